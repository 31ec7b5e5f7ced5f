import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { hotStatement, openDatabase } from '../../src/db/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { ChatkeepError, wrapDriverError } from '../../src/errors/index.js';
import { childScript } from '../support/child-scripts.js';
import { caught } from '../support/store-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'chatkeep-db-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('openDatabase', () => {
  it('creates a file-backed PGlite folder on first use and reopens it with its data', async () => {
    const dir = join(root, 'fresh', 'data');
    const first = await openDatabase({ dataDir: dir });
    expect(first.kind).toBe('pglite');
    await sql`create table kept (v int)`.execute(first.db);
    await sql`insert into kept values (42)`.execute(first.db);
    await first.close();
    const again = await openDatabase({ dataDir: dir });
    expect((await sql<{ v: number }>`select v from kept`.execute(again.db)).rows).toEqual([{ v: 42 }]);
    await again.close();
  });

  it('refuses a data folder that is a file, naming the folder', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a database');
    const error = await caught(() => openDatabase({ dataDir: file }));
    expect(error.code).toBe('CK_DATA_DIR');
    expect(error.message).toContain(file);
    expect(error.message).toContain('is a file');
  });

  it('refuses a URL-like data folder other than memory:// (memory://x would be a folder named "memory:") and writes nothing', async () => {
    for (const dataDir of ['memory://scratch', 'file:///tmp/chatkeep-data', 'idb://chat']) {
      const error = await caught(() => openDatabase({ dataDir }));
      expect([error.code, error.details?.['field']]).toEqual(['CK_CONFIG', 'dataDir']);
      expect(error.message).toContain(`"${dataDir}" is neither a folder nor memory://`);
    }
    expect(existsSync('memory:')).toBe(false);
  });

  // CHATKEEP_DATA_DIR set to PGDATA (/var/lib/postgresql/17/main, a shared Docker volume): PGlite
  // opened it beside the running server, deleted the server's postmaster.pid and wrote into its files.
  it('refuses the data directory of a PostgreSQL server (its postmaster.pid names a server process), and leaves it untouched', async () => {
    const dir = join(root, 'server-pgdata');
    await (await openDatabase({ dataDir: dir })).close();
    const postmaster = `${process.pid}\n/var/lib/postgresql/17/main\n1795564814\n5432\n/var/run/postgresql\n*\n  5432001         0\nready   \n`;
    writeFileSync(join(dir, 'postmaster.pid'), postmaster);
    const error = await caught(() => openDatabase({ dataDir: dir }));
    expect([error.code, error.details?.['field']]).toEqual(['CK_DATA_DIR', 'dataDir']);
    expect(error.message).toContain(`is the data directory of a PostgreSQL server (its postmaster.pid names server process ${process.pid})`);
    expect(readFileSync(join(dir, 'postmaster.pid'), 'utf8')).toBe(postmaster);
    expect(existsSync(join(dir, 'chatkeep.lock'))).toBe(false);
    // What PGlite itself leaves when killed (its single-user backend writes a negative pid) is no obstacle.
    writeFileSync(join(dir, 'postmaster.pid'), '-42\n/pglite/data\n1795564814\n5432\n\n\n       20         1\n');
    const reopened = await openDatabase({ dataDir: dir });
    expect((await sql<{ one: number }>`select 1 as one`.execute(reopened.db)).rows).toEqual([{ one: 1 }]);
    await reopened.close();
  });

  it('refuses a non-empty folder that is not a database instead of writing into it', async () => {
    const dir = join(root, 'documents');
    mkdirSync(dir);
    writeFileSync(join(dir, 'thesis.txt'), 'precious');
    const error = await caught(() => openDatabase({ dataDir: dir }));
    expect(error.code).toBe('CK_DATA_DIR');
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false);
  });

  // A mount point (a fresh Docker volume, say) cannot be removed or renamed over, nor can a folder
  // whose parent is read-only: an empty folder that exists is initialised where it is.
  it('initialises an existing empty folder in place: the folder itself is kept, nothing is left beside or inside it', async () => {
    const parent = join(root, 'volume');
    const dir = join(parent, 'data');
    mkdirSync(dir, { recursive: true });
    const inode = statSync(dir).ino;
    const first = await openDatabase({ dataDir: dir });
    await sql`create table kept (v int)`.execute(first.db);
    await sql`insert into kept values (7)`.execute(first.db);
    await first.close();
    expect(statSync(dir).ino, 'the folder was replaced').toBe(inode);
    expect(readdirSync(parent)).toEqual(['data']);
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
    const again = await openDatabase({ dataDir: dir });
    expect((await sql<{ v: number }>`select v from kept`.execute(again.db)).rows).toEqual([{ v: 7 }]);
    await again.close();
  });

  it("removes the temp folders that first starts killed mid-build left beside the data folder, not a live process's", async () => {
    const dir = join(root, 'abandoned', 'data');
    mkdirSync(`${dir}.init-99999999`, { recursive: true });
    writeFileSync(join(`${dir}.init-99999999`, 'PG_VERSION'), '17');
    mkdirSync(`${dir}.init-${process.ppid}`);
    const database = await openDatabase({ dataDir: dir });
    await database.close();
    expect(readdirSync(join(root, 'abandoned')).sort()).toEqual(['data', `data.init-${process.ppid}`]);
  });

  it('clears and initialises again a folder whose in-place initialisation was cut short (its marker left behind)', async () => {
    const dir = join(root, 'interrupted');
    mkdirSync(join(dir, 'base', '1'), { recursive: true });
    writeFileSync(join(dir, '.chatkeep-initializing'), '');
    writeFileSync(join(dir, 'postgresql.conf'), '# half moved');
    mkdirSync(join(dir, `.init-${process.pid + 1}`));
    const database = await openDatabase({ dataDir: dir });
    expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
    await database.close();
    expect(existsSync(join(dir, '.chatkeep-initializing'))).toBe(false);
    expect(readdirSync(dir).filter((name) => name.startsWith('.init-'))).toEqual([]);
    expect(readFileSync(join(dir, 'postgresql.conf'), 'utf8')).not.toBe('# half moved');
  });

  it('an in-place initialisation killed at random moments never leaves a folder that fails to open or opens half-built', async () => {
    const dir = join(root, 'killed-in-place');
    const script = `const { prepareDataDir } = await import(process.argv[1]); await prepareDataDir(process.argv[2]); console.log('ready');`;
    const delays = [0, 250, 500, 700, 900, 1200];
    for (const delay of delays) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(childScript('src/db/data-dir.ts')).href, dir]);
      const exited = new Promise((r) => child.on('exit', r));
      setTimeout(() => child.kill('SIGKILL'), delay);
      await exited;
      const database = await openDatabase({ dataDir: dir });
      try {
        await sql`create table t (v int)`.execute(database.db);
        await sql`insert into t values (1)`.execute(database.db);
        expect((await sql<{ n: number }>`select count(*)::int as n from t`.execute(database.db)).rows, `killed after ${delay} ms`).toEqual([{ n: 1 }]);
      } finally {
        await database.close();
      }
      expect(existsSync(join(dir, '.chatkeep-initializing'))).toBe(false);
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'an empty folder whose parent the user may not write is initialised, not an internal error (skipped unless run as root: it starts a child as another user)',
    async () => {
      const parent = mkdtempSync(join(tmpdir(), 'chatkeep-readonly-parent-'));
      const dir = join(parent, 'data');
      mkdirSync(dir);
      chmodSync(parent, 0o755);
      chownSync(dir, 65534, 65534);
      try {
        const script = `const { prepareDataDir } = await import(process.argv[1]);
          try { await prepareDataDir(process.argv[2]); console.log('ready'); } catch (error) { console.log(error.code, error.message); }`;
        const env = { ...process.env };
        delete env['CHATKEEP_PGLITE_IMAGE_CACHE'];
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(childScript('src/db/data-dir.ts')).href, dir], {
          uid: 65534,
          gid: 65534,
          env,
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        expect(await new Promise((r) => child.on('exit', r))).toBe(0);
        expect(out.trim()).toBe('ready');
        expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    },
  );

  it('refuses a data folder another live process holds, and takes over a dead holder’s lock', async () => {
    const dir = join(root, 'shared', 'data');
    const setup = await openDatabase({ dataDir: dir });
    await setup.close();
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    writeFileSync(join(dir, 'chatkeep.lock'), String(holder.pid));
    try {
      const error = await caught(() => openDatabase({ dataDir: dir }));
      expect(error.code).toBe('CK_DATA_DIR');
      expect(error.message).toContain(`process ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('exit', r));
    }
    // The holder is dead now: its lock is stale and is taken over.
    const reopened = await openDatabase({ dataDir: dir });
    expect((await sql<{ one: number }>`select 1 as one`.execute(reopened.db)).rows).toEqual([{ one: 1 }]);
    await reopened.close();
  });

  // A holder that has since lost the lock (judged stale and taken over) must
  // not delete the new holder's lock when it closes.
  it('close() leaves alone a lock file that another process holds by now', async () => {
    const dir = join(root, 'taken-over', 'data');
    const database = await openDatabase({ dataDir: dir });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      writeFileSync(join(dir, 'chatkeep.lock'), String(other.pid));
      await database.close();
      expect(readFileSync(join(dir, 'chatkeep.lock'), 'utf8')).toBe(String(other.pid));
      const error = await caught(() => openDatabase({ dataDir: dir }));
      expect(error.message).toContain(`process ${other.pid}`);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.on('exit', r));
    }
  });

  // kill(pid, 0) answers EPERM for a live process of another user: that
  // holder is alive, and its lock must not be stolen. The test process is
  // that other user for a child run as "nobody", which needs root to start.
  const asRoot = process.getuid?.() === 0;
  it.skipIf(!asRoot)('a lock held by a live process of another user is refused, not taken over (skipped unless run as root: it starts a child as another user)', async () => {
    // Its own folder under the OS temp dir: `root` (mkdtemp, mode 0700) is closed to that user.
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-other-user-'));
    chmodSync(dir, 0o777);
    try {
      writeFileSync(join(dir, 'chatkeep.lock'), String(process.pid));
      const script = `const { lockDataDir } = await import(process.argv[1]);
        try { lockDataDir(process.argv[2]); console.log('took the lock'); } catch (error) { console.log(error.code, error.message); }`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(childScript('src/db/data-dir.ts')).href, dir], { uid: 65534, gid: 65534 });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      expect(await new Promise((r) => child.on('exit', r))).toBe(0);
      expect(out).toContain(`CK_DATA_DIR Data folder ${dir} is in use by process ${process.pid}`);
      expect(readFileSync(join(dir, 'chatkeep.lock'), 'utf8')).toBe(String(process.pid));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to open the same folder twice in one process', async () => {
    const dir = join(root, 'twice');
    const first = await openDatabase({ dataDir: dir });
    try {
      const error = await caught(() => openDatabase({ dataDir: dir }));
      expect(error.code).toBe('CK_DATA_DIR');
    } finally {
      await first.close();
    }
  });

  // In a container the server is often PID 1 (or the same low PID) on every start: after a crash
  // (OOM kill, SIGKILL) the restarted process finds its own PID in the lock the dead one left.
  it('takes over a lock holding its own PID that this process never took (a restarted container gets the dead PID again)', async () => {
    const dir = join(root, 'same-pid', 'data');
    const setup = await openDatabase({ dataDir: dir });
    await sql`create table kept (v int)`.execute(setup.db);
    await sql`insert into kept values (7)`.execute(setup.db);
    await setup.close();
    // What a process killed while holding the folder leaves behind, when it had the PID this one has now.
    writeFileSync(join(dir, 'chatkeep.lock'), String(process.pid));
    const reopened = await openDatabase({ dataDir: dir });
    try {
      expect((await sql<{ v: number }>`select v from kept`.execute(reopened.db)).rows).toEqual([{ v: 7 }]);
      // Held by this process now: a second open is still refused, through a symlink too.
      symlinkSync(dir, join(root, 'same-pid', 'link'));
      for (const again of [dir, join(root, 'same-pid', 'link')]) {
        const error = await caught(() => openDatabase({ dataDir: again }));
        expect([error.code, error.message]).toEqual(['CK_DATA_DIR', expect.stringContaining('already open in this process')]);
      }
    } finally {
      await reopened.close();
    }
    expect(existsSync(join(dir, 'chatkeep.lock'))).toBe(false);
  });

  // After a crash the lock's PID can belong to another live process: PIDs are reused, and after a
  // reboot (a power loss) they start again from the same low numbers, so a boot's daemons get them.
  // The lock records which process took it (Linux: boot and start time), not only its PID.
  it.skipIf(process.platform !== 'linux')('takes over a lock whose PID now belongs to another live process; refuses it while its taker lives (Linux: /proc)', async () => {
    const dir = join(root, 'reused-pid', 'data');
    await (await openDatabase({ dataDir: dir })).close();
    const script = `const { lockDataDir } = await import(process.argv[1]);
      lockDataDir(process.argv[2]); console.log('locked'); setInterval(() => {}, 1000);`;
    const taker = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(childScript('src/db/data-dir.ts')).href, dir]);
    let other: ChildProcess | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        taker.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        taker.on('exit', (code) => reject(new Error(`the lock taker exited early (${code})`)));
      });
      const error = await caught(() => openDatabase({ dataDir: dir }));
      expect([error.code, error.message]).toEqual(['CK_DATA_DIR', expect.stringContaining(`is in use by process ${taker.pid}`)]);
      taker.kill('SIGKILL');
      await new Promise((r) => taker.on('exit', r));
      // The dead taker's lock, as if the OS had since given its PID to `other`, a process started after
      // the taker died, as a reused PID's is. (Started beside the taker, both could share its start time,
      // whose resolution is a clock tick, 10 ms: that made this test fail once in a clean run.)
      other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
      const lock = readFileSync(join(dir, 'chatkeep.lock'), 'utf8');
      expect(lock.startsWith(String(taker.pid))).toBe(true);
      writeFileSync(join(dir, 'chatkeep.lock'), lock.replace(String(taker.pid), String(other.pid!)));
      const reopened = await openDatabase({ dataDir: dir });
      expect((await sql<{ one: number }>`select 1 as one`.execute(reopened.db)).rows).toEqual([{ one: 1 }]);
      await reopened.close();
    } finally {
      taker.kill('SIGKILL');
      if (other !== undefined) {
        other.kill('SIGKILL');
        await new Promise((r) => other!.on('exit', r));
      }
    }
  });

  it('reports an unreachable PostgreSQL clearly, without the password', async () => {
    const error = await caught(() => openDatabase({ url: 'postgres://someone:hunter2@127.0.0.1:1/nowhere', connectTimeoutMs: 2000 }));
    expect(error.code).toBe('CK_DB_UNAVAILABLE');
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain('hunter2');
  });

  it('rejects a URL that is not a PostgreSQL URL, naming the field', async () => {
    const error = await caught(() => openDatabase({ url: 'mysql://localhost/db' }));
    expect(error.code).toBe('CK_CONFIG');
    expect(error.details?.['field']).toBe('url');
  });

  // Kysely starts its driver on the first query; closing before one used to
  // leave PGlite open and answering, its folder unlocked while still in use.
  it.each([
    ['in memory', () => 'memory://'],
    ['in a folder', () => join(root, 'never-queried', 'data')],
  ])('close() before any query still closes PGlite (%s): later queries are CK_STORE_CLOSED', async (_where, dataDir) => {
    const database = await openDatabase({ dataDir: dataDir() });
    await database.close();
    expect(database.pglite?.closed).toBe(true);
    const failure = await sql`select 1`.execute(database.db).then(
      () => undefined,
      (error: unknown) => wrapDriverError(error),
    );
    expect(failure).toBeInstanceOf(ChatkeepError);
    expect((failure as ChatkeepError).code).toBe('CK_STORE_CLOSED');
  });

  // The same for PostgreSQL: Kysely ends the pool only if it started, and the open's own probe left
  // a connection idle in the pool, which stayed open and answered hot statements after close().
  it.skipIf(!PG_AVAILABLE)('close() before any Kysely query still ends the PostgreSQL pool: no connection is left, and hot statements are CK_STORE_CLOSED', async () => {
    const created = await createPgDatabase();
    try {
      const database = await openDatabase({ url: created.url });
      const one = hotStatement('select 1 as one');
      expect(await database.hot(one, [])).toEqual([{ one: 1 }]);
      await database.close();
      const admin = await openDatabase({ url: PG_ADMIN_URL, poolSize: 1 });
      try {
        // A backend leaves pg_stat_activity a moment after its client has gone: allow it 2 s.
        const left = async () =>
          (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = ${created.name} and application_name = 'chatkeep'`.execute(admin.db)).rows[0]?.n;
        for (let wait = 0; wait < 20 && (await left()) !== 0; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await left()).toBe(0);
      } finally {
        await admin.close();
      }
      const failure = await database.hot(one, []).then(
        () => undefined,
        (error: unknown) => wrapDriverError(error) as ChatkeepError,
      );
      expect(failure?.code).toBe('CK_STORE_CLOSED');
    } finally {
      await created.drop();
    }
  });

  it('a Kysely handle used after close() is CK_STORE_CLOSED, not an internal error', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    await sql`select 1`.execute(database.db);
    await database.close();
    const failure = await sql`select 1`.execute(database.db).then(
      () => undefined,
      (error: unknown) => wrapDriverError(error),
    );
    expect((failure as ChatkeepError).code).toBe('CK_STORE_CLOSED');
  });
});
