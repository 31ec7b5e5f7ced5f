/**
 * Server CPU per history request (no socket): builds the server on a
 * PostgreSQL database with one 100-message conversation and injects
 * GET /messages?limit=50 N times, reporting the server's CPU µs per request.
 *   node --import tsx probe/http-cpu.ts
 */
import pg from 'pg';
import { SignJWT } from 'jose';
import { demoAgent, demoStreamingAgent, openDatabase, openStore } from 'chatkeep';
import { buildServer } from 'chatkeep/server';

const N = Number(process.env['N'] ?? 4000);
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query('drop database if exists ck_probe_cpu');
await admin.query('create database ck_probe_cpu');
await admin.end();
const database = await openDatabase({ url: 'postgres://postgres@127.0.0.1:5432/ck_probe_cpu', poolSize: 4 });
const store = await openStore({ database });
const conv = await store.conversations.create('u1');
for (let i = 0; i < 50; i++) await store.turns.append('u1', conv.id, { user: `Question ${i} ${'lorem ipsum '.repeat(6)}`, assistant: `Answer ${i}: ${'dolor sit amet '.repeat(25)}` });
const secret = 'probe-secret-that-is-at-least-32-bytes-long';
const server = await buildServer(store, { auth: { jwtSecret: secret }, agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() }, logger: false, rateLimit: { max: 1_000_000, windowMs: 60_000 } });
const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
const inject = () => server.app.inject({ method: 'GET', url: `/v1/conversations/${conv.id}/messages?limit=50`, headers: { authorization: `Bearer ${token}` } });
const first = await inject();
if (first.statusCode !== 200) throw new Error(first.body);
for (let i = 0; i < 500; i++) await inject();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let bytes = 0;
for (let i = 0; i < N; i++) bytes += (await inject()).rawPayload.length;
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(`${N} requests: ${((cpu.user + cpu.system) / N).toFixed(0)} µs CPU/request, ${((wall * 1000) / N).toFixed(0)} µs wall/request, ${Math.round(bytes / N)} bytes/response`);
await server.close();
await store.close();
