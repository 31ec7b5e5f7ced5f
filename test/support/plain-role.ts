import { sql } from 'kysely';
import type { ScratchDatabase } from './backends.js';

/**
 * Runs `work` with the URL of a fresh login role on a PostgreSQL scratch
 * database: not a superuser, allowed to create schemas there and nothing
 * else. The role and everything it owns are dropped afterwards.
 */
export async function withPlainRole<T>(scratch: ScratchDatabase, prefix: string, work: (url: string) => Promise<T>): Promise<T> {
  const role = `${prefix}_${process.pid}`;
  const admin = scratch.database.db;
  await sql.raw(`create role ${role} login`).execute(admin);
  await sql.raw(`grant create on database "${new URL(scratch.url!).pathname.slice(1)}" to ${role}`).execute(admin);
  const url = new URL(scratch.url!);
  url.username = role;
  try {
    return await work(url.toString());
  } finally {
    await sql.raw(`drop owned by ${role}`).execute(admin);
    await sql.raw(`drop role ${role}`).execute(admin);
  }
}
