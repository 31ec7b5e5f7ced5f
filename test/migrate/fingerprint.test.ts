import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase } from '../support/backends.js';

const S = 'mig_test_fp';

/** One object of every kind the fingerprint describes. */
const DDL = [
  `create schema ${S}`,
  `create type ${S}.mood as enum ('happy', 'sad')`,
  `create domain ${S}.positive as int check (value > 0)`,
  `create type ${S}.pair as (a int, b text)`,
  `create sequence ${S}.counter increment 5`,
  `create table ${S}.people (
     id bigint generated always as identity primary key,
     name text not null default 'anon' check (char_length(name) < 100),
     shout text generated always as (upper(name)) stored,
     mood ${S}.mood,
     score ${S}.positive,
     label text collate "C"
   )`,
  `create table ${S}.pets (id serial primary key, owner_id bigint references ${S}.people on delete cascade)`,
  `create index people_name_idx on ${S}.people (lower(name)) where mood is not null`,
  `alter table ${S}.people enable row level security`,
  `create policy people_self on ${S}.people for select to public using (name = current_user)`,
  `create policy people_insert on ${S}.people for insert with check (name <> '')`,
  `create function ${S}.stamp() returns trigger language plpgsql as $$ begin new.name := trim(new.name); return new; end $$`,
  `create trigger people_stamp before insert on ${S}.people for each row execute function ${S}.stamp()`,
  `create view ${S}.sad_people as select id, name from ${S}.people where mood = 'sad'`,
];

async function exec(db: Kysely<any>, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: fingerprint`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => (db = s.database.db));

    it('describes every object kind with one sorted line each, and no OIDs', async () => {
      await exec(db, DDL);
      const { hash, lines } = await fingerprint(db, [S]);
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect([...lines].sort()).toEqual(lines);
      const kinds = new Set(lines.map((l) => l.split(' ')[0]));
      expect([...kinds].sort()).toEqual([
        'column',
        'constraint',
        'domain',
        'enum',
        'function',
        'index',
        'policy',
        'schema',
        'sequence',
        'table',
        'trigger',
        'type',
        'view',
      ]);
      expect(lines).toContain(
        `table ${S}.people kind=r persistence=p rls=t force_rls=f partition_key=- partition_bound=- inherits=-`,
      );
      expect(lines.find((l) => l.startsWith(`column ${S}.people.shout `))).toContain(
        'generated=s:upper(name)',
      );
      expect(lines.find((l) => l.startsWith(`column ${S}.people.id `))).toContain('identity=a');
      expect(lines.find((l) => l.startsWith(`column ${S}.people.label `))).toContain(
        'collation="C"',
      );
      expect(lines.find((l) => l.startsWith(`function ${S}.stamp()`))).toContain('\\n');
      expect(lines.join('\n')).not.toMatch(/\b\d{5,}\b(?!\d)(?<!9223372036854775807|2147483647)/);
    });

    it('is identical after dropping and recreating the same objects (new OIDs, same schema)', async () => {
      const before = await fingerprint(db, [S]);
      await sql.raw(`drop schema ${S} cascade`).execute(db);
      expect((await fingerprint(db, [S])).lines).toEqual([]);
      await exec(db, DDL);
      expect(await fingerprint(db, [S])).toEqual(before);
    });

    it('ignores a column that was added and dropped again', async () => {
      const before = await fingerprint(db, [S]);
      await sql.raw(`alter table ${S}.people add column temp int`).execute(db);
      expect((await fingerprint(db, [S])).hash).not.toBe(before.hash);
      await sql.raw(`alter table ${S}.people drop column temp`).execute(db);
      expect(await fingerprint(db, [S])).toEqual(before);
    });

    it.each([
      [
        'a column default',
        `alter table ${S}.people alter column name set default 'x'`,
        `alter table ${S}.people alter column name set default 'anon'`,
      ],
      [
        'a NOT NULL',
        `alter table ${S}.pets alter column owner_id set not null`,
        `alter table ${S}.pets alter column owner_id drop not null`,
      ],
      [
        'a column type',
        `alter table ${S}.people alter column label type varchar(10) collate "C"`,
        `alter table ${S}.people alter column label type text collate "C"`,
      ],
      [
        'an index',
        `create index pets_owner_idx on ${S}.pets (owner_id)`,
        `drop index ${S}.pets_owner_idx`,
      ],
      [
        'forced RLS',
        `alter table ${S}.people force row level security`,
        `alter table ${S}.people no force row level security`,
      ],
      [
        'a policy',
        `alter policy people_self on ${S}.people using (true)`,
        `alter policy people_self on ${S}.people using (name = current_user)`,
      ],
      [
        'a policy’s WITH CHECK',
        `alter policy people_insert on ${S}.people with check (true)`,
        `alter policy people_insert on ${S}.people with check (name <> '')`,
      ],
      [
        'a policy’s roles',
        `alter policy people_self on ${S}.people to current_user`,
        `alter policy people_self on ${S}.people to public`,
      ],
      [
        'a sequence cache',
        `alter sequence ${S}.counter cache 20`,
        `alter sequence ${S}.counter cache 1`,
      ],
      [
        'a disabled trigger',
        `alter table ${S}.people disable trigger people_stamp`,
        `alter table ${S}.people enable trigger people_stamp`,
      ],
      [
        'a function body',
        `create or replace function ${S}.stamp() returns trigger language plpgsql as $$ begin return new; end $$`,
        `create or replace function ${S}.stamp() returns trigger language plpgsql as $$ begin new.name := trim(new.name); return new; end $$`,
      ],
      [
        'a sequence increment',
        `alter sequence ${S}.counter increment 1`,
        `alter sequence ${S}.counter increment 5`,
      ],
      [
        'a view definition',
        `create or replace view ${S}.sad_people as select id, name from ${S}.people where mood = 'happy'`,
        `create or replace view ${S}.sad_people as select id, name from ${S}.people where mood = 'sad'`,
      ],
      [
        'a constraint',
        `alter table ${S}.pets add constraint pets_id_check check (id > 0)`,
        `alter table ${S}.pets drop constraint pets_id_check`,
      ],
    ])('changes with %s and returns when it is undone', async (_what, change, undo) => {
      const before = await fingerprint(db, [S]);
      await sql.raw(change).execute(db);
      expect((await fingerprint(db, [S])).hash).not.toBe(before.hash);
      await sql.raw(undo).execute(db);
      expect(await fingerprint(db, [S])).toEqual(before);
    });

    it('tells an invalid index, left by a failed concurrent build, from the valid one of the same definition', async () => {
      await sql.raw(`insert into ${S}.pets (owner_id) values (null), (null)`).execute(db);
      const unique = `create unique index concurrently pets_owner_key on ${S}.pets ((coalesce(owner_id, 0)))`;
      await expect(sql.raw(unique).execute(db)).rejects.toMatchObject({ code: '23505' });
      const invalid = await fingerprint(db, [S]);
      expect(invalid.lines.find((l) => l.startsWith(`index ${S}.pets_owner_key `))).toContain('valid=f');
      await sql.raw(`drop index ${S}.pets_owner_key`).execute(db);
      await sql.raw(`delete from ${S}.pets`).execute(db);
      await sql.raw(`insert into ${S}.pets (owner_id) values (null)`).execute(db);
      await sql.raw(unique).execute(db);
      const valid = await fingerprint(db, [S]);
      expect(valid.hash).not.toBe(invalid.hash);
      await sql.raw(`drop index ${S}.pets_owner_key`).execute(db);
      await sql.raw(`delete from ${S}.pets`).execute(db);
    });

    it('changes when an enum gains a label', async () => {
      const before = await fingerprint(db, [S]);
      await sql.raw(`alter type ${S}.mood add value 'calm'`).execute(db);
      const after = await fingerprint(db, [S]);
      expect(after.lines.find((l) => l.startsWith('enum '))).toBe(
        `enum ${S}.mood labels='happy','sad','calm'`,
      );
      expect(after.hash).not.toBe(before.hash);
    });

    it('only looks at the schemas it is given, and refuses names that are not identifiers', async () => {
      await sql.raw('create schema mig_test_other').execute(db);
      await sql.raw('create table mig_test_other.t (id int)').execute(db);
      const both = await fingerprint(db, [S, 'mig_test_other']);
      const one = await fingerprint(db, [S]);
      expect(both.lines.filter((l) => !l.includes('mig_test_other'))).toEqual(one.lines);
      await expect(fingerprint(db, ["x'; drop table y; --"])).rejects.toMatchObject({
        code: 'CK_CONFIG',
      });
    });
  });
}
