import { createHash } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { assertIdentifier } from './identifier.js';

/** A canonical description of the schema objects in some schemas, and its hash. */
export interface SchemaFingerprint {
  /** SHA-256 (hex) of `lines` joined with `'\n'`. */
  readonly hash: string;
  /** One line per object, sorted; multi-line definitions have `\n` escaped. */
  readonly lines: string[];
}

/**
 * One catalogue query per kind of object. Each returns a `line` column built
 * from names and PostgreSQL's own deparsers (`pg_get_*def`, `format_type`),
 * never OIDs, so the same schema gives the same lines in any database and on
 * any run. Column positions are ranks among live columns: a column added and
 * dropped again leaves a dropped attribute behind, which is invisible to SQL
 * and must not count as a difference. Object names PostgreSQL generates
 * (`t_pkey`, `t_id_seq`) are deterministic and kept.
 */
const QUERIES: readonly ((schemas: string) => RawBuilder<{ line: string | null }>)[] = [
  (s) => sql`
    select 'schema ' || quote_ident(nspname) as line
    from pg_namespace where nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('table %I.%I kind=%s persistence=%s rls=%s force_rls=%s partition_key=%s partition_bound=%s inherits=%s',
      n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
      coalesce(pg_get_partkeydef(c.oid), '-'), coalesce(pg_get_expr(c.relpartbound, c.oid), '-'),
      coalesce((select string_agg(format('%I.%I', pn.nspname, p.relname), ',' order by pn.nspname, p.relname)
                from pg_inherits i join pg_class p on p.oid = i.inhparent join pg_namespace pn on pn.oid = p.relnamespace
                where i.inhrelid = c.oid), '-')) as line
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and c.relkind in ('r', 'p', 'f')`,
  (s) => sql`
    select format('column %I.%I.%I position=%s type=%s not_null=%s default=%s generated=%s identity=%s collation=%s',
      n.nspname, c.relname, a.attname,
      row_number() over (partition by a.attrelid order by a.attnum),
      format_type(a.atttypid, a.atttypmod), a.attnotnull,
      coalesce(case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end, '-'),
      coalesce(case when a.attgenerated <> '' then a.attgenerated::text || ':' || pg_get_expr(d.adbin, d.adrelid) end, '-'),
      coalesce(nullif(a.attidentity, ''), '-'),
      case when a.attcollation <> t.typcollation then quote_ident(coll.collname) else '-' end) as line
    from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_type t on t.oid = a.atttypid
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      left join pg_collation coll on coll.oid = a.attcollation
    where n.nspname = any(string_to_array(${s}, ',')) and a.attnum > 0 and not a.attisdropped
      and c.relkind in ('r', 'p', 'f', 'v', 'm', 'c')`,
  (s) => sql`
    select format('constraint %I.%I %I type=%s deferrable=%s deferred=%s validated=%s def=%s',
      n.nspname, c.relname, con.conname, con.contype, con.condeferrable, con.condeferred, con.convalidated,
      pg_get_constraintdef(con.oid)) as line
    from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('index %I.%I on=%I valid=%s ready=%s def=%s',
      n.nspname, ic.relname, c.relname, i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid)) as line
    from pg_index i
      join pg_class ic on ic.oid = i.indexrelid
      join pg_class c on c.oid = i.indrelid
      join pg_namespace n on n.oid = ic.relnamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('trigger %I.%I %I enabled=%s def=%s',
      n.nspname, c.relname, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)) as line
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and not t.tgisinternal`,
  (s) => sql`
    select format('policy %I.%I %I permissive=%s cmd=%s roles=%s using=%s check=%s',
      n.nspname, c.relname, p.polname, p.polpermissive, p.polcmd,
      (select string_agg(r.name, ',' order by r.name)
       from (select case when role = 0 then 'public' else quote_ident(pg_get_userbyid(role)::text) end as name
             from unnest(p.polroles) as role) r),
      coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
      coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')) as line
    from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  // pg_get_functiondef rejects aggregates, so those are described by
  // signature and result type only.
  (s) => sql`
    select format('function %I.%I(%s) kind=%s def=%s',
      n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
      case when p.prokind = 'a' then pg_get_function_result(p.oid) else pg_get_functiondef(p.oid) end) as line
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('sequence %I.%I type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s owned_by=%s',
      n.nspname, c.relname, format_type(seq.seqtypid, null), seq.seqstart, seq.seqincrement,
      seq.seqmin, seq.seqmax, seq.seqcache, seq.seqcycle,
      coalesce((select format('%I.%I:%s', tc.relname, a.attname, d.deptype)
                from pg_depend d
                  join pg_class tc on tc.oid = d.refobjid
                  join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                where d.classid = 'pg_class'::regclass and d.objid = c.oid
                  and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
                order by 1 limit 1), '-')) as line
    from pg_sequence seq join pg_class c on c.oid = seq.seqrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('view %I.%I kind=%s def=%s', n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid, true)) as line
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and c.relkind in ('v', 'm')`,
  (s) => sql`
    select format('enum %I.%I labels=%s', n.nspname, t.typname,
      (select string_agg(quote_literal(e.enumlabel), ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)) as line
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and t.typtype = 'e'`,
  (s) => sql`
    select format('domain %I.%I type=%s not_null=%s default=%s', n.nspname, t.typname,
      format_type(t.typbasetype, t.typtypmod), t.typnotnull, coalesce(t.typdefault, '-')) as line
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and t.typtype = 'd'`,
  (s) => sql`
    select format('constraint domain %I.%I %I def=%s', n.nspname, t.typname, con.conname, pg_get_constraintdef(con.oid)) as line
    from pg_constraint con join pg_type t on t.oid = con.contypid join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(string_to_array(${s}, ','))`,
  (s) => sql`
    select format('type %I.%I composite', n.nspname, t.typname) as line
    from pg_type t join pg_class c on c.oid = t.typrelid join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(string_to_array(${s}, ',')) and t.typtype = 'c' and c.relkind = 'c'`,
];

/**
 * A canonical, sorted text description of every schema object in `schemas`
 * (schema existence, tables with row-level-security flags, columns,
 * constraints, indexes, triggers, policies, functions, sequences, views,
 * enums, domains, composite types) and its SHA-256. Two databases, or one
 * database at two moments, have the same hash exactly when these objects
 * match; data and privileges are not part of it. Used to prove that a failed
 * migration left no trace and that `down` is the exact inverse of `up`.
 *
 * @example
 * const before = await fingerprint(db, ['app']);
 * await migrator.up(); await migrator.down({ to: 0 });
 * assert.equal((await fingerprint(db, ['app'])).hash, before.hash);
 */
export async function fingerprint(
  db: Kysely<any>,
  schemas: readonly string[],
): Promise<SchemaFingerprint> {
  schemas.forEach((schema, index) => assertIdentifier(`schemas[${index}]`, schema));
  const list = schemas.join(',');
  const lines: string[] = [];
  for (const query of QUERIES) {
    const { rows } = await query(list).execute(db);
    for (const { line } of rows) {
      if (line !== null) lines.push(line.replace(/\\/g, '\\\\').replace(/\r?\n/g, '\\n'));
    }
  }
  lines.sort();
  return { hash: createHash('sha256').update(lines.join('\n')).digest('hex'), lines };
}
