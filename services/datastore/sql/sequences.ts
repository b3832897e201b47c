// Sequences: CREATE SEQUENCE [IF NOT EXISTS] s [AS type] [INCREMENT [BY] n]
// [MINVALUE n | NO MINVALUE] [MAXVALUE n | NO MAXVALUE] [START [WITH] n]
// [CACHE n] [[NO] CYCLE], DROP SEQUENCE [IF EXISTS] s, ..., and nextval,
// currval, setval, lastval (PostgreSQL's "CREATE SEQUENCE" page and
// "Sequence Manipulation Functions").
//
// Storage: one row per sequence in the engine table `sql_sequence_defs`
// (name, definition as JSON, logged value). As PostgreSQL does
// (SEQ_LOG_VALS), nextval logs ahead: when the values covered by the last
// log write run out, it writes the value LOG_AHEAD steps further in a
// transaction of its own, and the statement that drew the value does not
// answer (nor commit) before that write is durable (`settled`). After a
// crash a sequence continues after the logged value: numbers are skipped,
// never given twice. setval writes at once. All of this is outside the
// caller's transaction, as in PostgreSQL: a rollback gives no number back.
//
// nextval runs inside an expression, which cannot await: the sequence is
// kept in memory and only its log write is awaited, by the statement
// (`withSequenceWrites` around its run).
//
// Left out: CREATE and DROP SEQUENCE take effect at once even inside a
// transaction block (PostgreSQL's are transactional); sequences are not in
// pg_class; ALTER SEQUENCE; OWNED BY is accepted and ignored.
//
// SERIAL and identity columns keep their own counters (executor.ts's
// Database.nextval, reserved ahead in `sql_sequences`); nextval, currval,
// setval and lastval reach them by their sequence's name (`t_id_seq`, what
// pg_get_serial_sequence gives) when no sequence of that name exists. The
// counter must be started before the statement runs (it reads the table),
// so the name must be known then: a constant, or pg_get_serial_sequence of
// constants; otherwise an unstarted counter is 55000.

import type { Engine, TableSpec } from "../storage/engine.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import { SqlError, type SqlNotice } from "./errors.ts";
import type { Expr, SequenceOptions, Statement } from "./ast.ts";
import { coerce, type Compiled, typeDisplayName } from "./eval.ts";
import type { Database, Result, RunContext, SessionInfo } from "./executor.ts";
import { sequenceName } from "./pg_catalog.ts";
import type { SqlColumn, SqlTable } from "./catalog.ts";

export const SEQUENCE_DEFS_TABLE = "sql_sequence_defs";
export const SEQUENCE_DEFS_SPEC: TableSpec = {
  name: SEQUENCE_DEFS_TABLE,
  columns: [
    { name: "name", type: "text", nullable: false },
    { name: "def", type: "text", nullable: false },
    { name: "logged", type: "int64", nullable: true },
  ],
  primaryKey: ["name"],
};

/** Values covered by one log write (PostgreSQL's SEQ_LOG_VALS). */
const LOG_AHEAD = 32n;

const INT8_MAX = (1n << 63n) - 1n;
const INT8_MIN = -(1n << 63n);
const RANGE: Record<string, [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [INT8_MIN, INT8_MAX],
};

interface SequenceDef {
  increment: string;
  min: string;
  max: string;
  start: string;
  cycle: boolean;
}

interface Sequence {
  name: string;
  increment: bigint;
  min: bigint;
  max: bigint;
  start: bigint;
  cycle: boolean;
  /** The last value given (or set), and whether nextval gives the one after it. */
  last: bigint;
  called: boolean;
  /** Values still covered by the last log write. */
  logLeft: bigint;
}

/** Each session's currval values and its lastval (by the session's info object). */
const sessionValues = new WeakMap<object, { values: Map<string, bigint>; last: string | null }>();

/** The sequences of one database, in memory, with their log writes. */
export class Sequences {
  #engine: Engine;
  #all = new Map<string, Sequence>();
  /** Log writes not yet durable, in the order made. */
  #pending = new Set<Promise<void>>();
  /** The last write per sequence, so that writes of one sequence land in order. */
  #tail = new Map<string, Promise<void>>();

  private constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** Loads every sequence (the definitions table must exist). */
  static async load(engine: Engine): Promise<Sequences> {
    const sequences = new Sequences(engine);
    const tx = engine.begin();
    for await (const batch of tx.scanBatches(SEQUENCE_DEFS_TABLE, null)) {
      for (const row of batch) {
        const def = JSON.parse(row[1] as string) as SequenceDef;
        const seq = fromDef(row[0] as string, def);
        if (row[2] !== null) {
          seq.last = row[2] as bigint;
          seq.called = true;
        }
        sequences.#all.set(seq.name, seq);
      }
    }
    await tx.commit();
    return sequences;
  }

  has(name: string): boolean {
    return this.#all.has(name);
  }

  /** CREATE SEQUENCE: stored durably before it returns. */
  async create(
    name: string,
    options: SequenceOptions,
    evaluate: (e: Expr) => bigint,
  ): Promise<void> {
    const def = definition(options, evaluate);
    const seq = fromDef(name, def);
    this.#all.set(name, seq);
    await this.#write(name, async (tx) => {
      await tx.insert(SEQUENCE_DEFS_TABLE, [name, JSON.stringify(def), null]);
    });
  }

  /** DROP SEQUENCE of existing sequences: removed durably before it returns. */
  async drop(name: string): Promise<void> {
    this.#all.delete(name);
    await this.#write(name, async (tx) => {
      await tx.delete(SEQUENCE_DEFS_TABLE, [name]);
    });
  }

  /** nextval(name): the next value; its log write, when one is due, joins `settled`. */
  nextval(session: object, name: string): bigint {
    const seq = this.#find(name);
    const next = seq.called ? step(seq, seq.last) : seq.last;
    seq.last = next;
    seq.called = true;
    if (seq.logLeft > 0n) seq.logLeft--;
    else {
      let logged = next;
      for (let i = 0n; i < LOG_AHEAD; i++) logged = step(seq, logged, true);
      seq.logLeft = LOG_AHEAD;
      this.#log(seq, logged);
    }
    remember(session, name, next);
    return next;
  }

  currval(session: object, name: string): bigint {
    this.#find(name);
    const value = sessionValues.get(session)?.values.get(name);
    if (value === undefined) {
      throw new SqlError(
        "55000",
        `currval of sequence "${name}" is not yet defined in this session`,
      );
    }
    return value;
  }

  /** lastval(): `serial` tells whether a name is a SERIAL column's sequence (still there). */
  lastval(session: object, serial: (name: string) => boolean = () => false): bigint {
    const mine = sessionValues.get(session);
    if (!mine || mine.last === null) {
      throw new SqlError("55000", "lastval is not yet defined in this session");
    }
    if (!this.#all.has(mine.last) && !serial(mine.last)) {
      throw new SqlError("55000", "lastval is not yet defined in this session");
    }
    return mine.values.get(mine.last)!;
  }

  /** setval(name, value, called): logged at once (the statement waits for it). */
  setval(session: object, name: string, value: bigint, called: boolean): bigint {
    const seq = this.#find(name);
    if (value < seq.min || value > seq.max) {
      throw new SqlError(
        "22003",
        `setval: value ${value} is out of bounds for sequence "${name}" (${seq.min}..${seq.max})`,
      );
    }
    seq.last = value;
    seq.called = called;
    seq.logLeft = 0n;
    // Logged as "given": after a crash nextval gives the one after the logged value.
    this.#log(seq, called ? value : value - seq.increment);
    void session;
    return value;
  }

  /**
   * A SERIAL counter's reservation write made by nextval or setval in an
   * expression (executor.ts's `drawNow`): `settled` waits for it too.
   */
  track(write: Promise<void>): void {
    this.#pending.add(write);
    const forget = () => this.#pending.delete(write);
    write.then(forget, forget);
  }

  /** Resolves once every log write made so far is durable (rejects if one failed). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #find(name: string): Sequence {
    const seq = this.#all.get(name);
    if (!seq) throw new SqlError("42P01", `relation "${name}" does not exist`);
    return seq;
  }

  #log(seq: Sequence, logged: bigint): void {
    const name = seq.name;
    const write = this.#write(name, async (tx) => {
      const row = await tx.get(SEQUENCE_DEFS_TABLE, [name]);
      if (row) await tx.update(SEQUENCE_DEFS_TABLE, [name], [name, row[1], logged]);
    });
    this.#pending.add(write);
    const forget = () => this.#pending.delete(write);
    write.then(forget, forget);
  }

  /** Runs `change` in a transaction of its own after the sequence's earlier writes; durable on return. */
  #write(
    name: string,
    change: (tx: ReturnType<Engine["begin"]>) => Promise<void>,
  ): Promise<void> {
    const before = this.#tail.get(name) ?? Promise.resolve();
    const write = before.catch(() => {}).then(async () => {
      const tx = this.#engine.begin();
      try {
        await change(tx);
      } catch (error) {
        if (tx.state === "open") await tx.rollback();
        throw error;
      }
      await tx.commit();
    });
    this.#tail.set(name, write);
    const clear = () => {
      if (this.#tail.get(name) === write) this.#tail.delete(name);
    };
    write.then(clear, clear);
    return write;
  }
}

function remember(session: object, name: string, value: bigint): void {
  let mine = sessionValues.get(session);
  if (!mine) sessionValues.set(session, mine = { values: new Map(), last: null });
  mine.values.set(name, value);
  mine.last = name;
}

/**
 * The value after `from`, wrapping at a bound when the
 * sequence cycles; past a bound otherwise 2200H, or, when `ahead` (the log
 * write's look-ahead), the bound itself.
 */
function step(seq: Sequence, from: bigint, ahead = false): bigint {
  const next = from + seq.increment;
  if (next > seq.max) {
    if (seq.cycle) return seq.min;
    if (ahead) return from;
    throw new SqlError(
      "2200H",
      `nextval: reached maximum value of sequence "${seq.name}" (${seq.max})`,
    );
  }
  if (next < seq.min) {
    if (seq.cycle) return seq.max;
    if (ahead) return from;
    throw new SqlError(
      "2200H",
      `nextval: reached minimum value of sequence "${seq.name}" (${seq.min})`,
    );
  }
  return next;
}

function fromDef(name: string, def: SequenceDef): Sequence {
  const start = BigInt(def.start);
  return {
    name,
    increment: BigInt(def.increment),
    min: BigInt(def.min),
    max: BigInt(def.max),
    start,
    cycle: def.cycle,
    last: start,
    called: false,
    logLeft: 0n,
  };
}

/** The stored definition of CREATE SEQUENCE's options, checked as PostgreSQL's init_params does. */
function definition(options: SequenceOptions, evaluate: (e: Expr) => bigint): SequenceDef {
  const typeName = options.type?.name ?? "int8";
  const range = RANGE[typeName];
  if (!range) {
    throw new SqlError("22023", "sequence type must be smallint, integer, or bigint");
  }
  const increment = options.increment ? evaluate(options.increment) : 1n;
  if (increment === 0n) throw new SqlError("22023", "INCREMENT must not be zero");
  const up = increment > 0n;
  const min = options.min !== null && options.min !== "none"
    ? evaluate(options.min)
    : up
    ? 1n
    : range[0];
  const max = options.max !== null && options.max !== "none"
    ? evaluate(options.max)
    : up
    ? range[1]
    : -1n;
  const typeLabel = typeName === "int2" ? "smallint" : typeName === "int4" ? "integer" : "bigint";
  if (min < range[0] || min > range[1]) {
    throw new SqlError(
      "22023",
      `MINVALUE (${min}) is out of range for sequence data type ${typeLabel}`,
    );
  }
  if (max < range[0] || max > range[1]) {
    throw new SqlError(
      "22023",
      `MAXVALUE (${max}) is out of range for sequence data type ${typeLabel}`,
    );
  }
  if (min >= max) {
    throw new SqlError("22023", `MINVALUE (${min}) must be less than MAXVALUE (${max})`);
  }
  const start = options.start ? evaluate(options.start) : up ? min : max;
  if (start < min) {
    throw new SqlError("22023", `START value (${start}) cannot be less than MINVALUE (${min})`);
  }
  if (start > max) {
    throw new SqlError("22023", `START value (${start}) cannot be greater than MAXVALUE (${max})`);
  }
  return {
    increment: String(increment),
    min: String(min),
    max: String(max),
    start: String(start),
    cycle: options.cycle ?? false,
  };
}

/** A regclass argument as a sequence name: 'public.s', 'S' (folded), '"S"' (kept). */
export function sequenceArgument(value: PgValue): string {
  let text = String(value);
  if (text.startsWith("public.")) text = text.slice("public.".length);
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    return text.slice(1, -1).replaceAll('""', '"');
  }
  return text.toLowerCase();
}

/** The notice of CREATE SEQUENCE IF NOT EXISTS on an existing relation. */
export function existsNotice(name: string): SqlNotice {
  return { code: "42P07", message: `relation "${name}" already exists, skipping` };
}

// Statements and functions ------------------------------------------------------

/** The bare name of a possibly qualified sequence name ("public" is the only schema). */
function bareName(name: string[]): string {
  if (name.length === 2 && name[0] !== "public") {
    throw new SqlError("3F000", `schema "${name[0]}" does not exist`);
  }
  return name[name.length - 1];
}

export async function createSequence(
  db: Database,
  statement: Extract<Statement, { kind: "create_sequence" }>,
): Promise<Result> {
  const name = bareName(statement.name);
  if (db.tables.has(name) || db.sequences.has(name)) {
    if (!statement.ifNotExists) throw new SqlError("42P07", `relation "${name}" already exists`);
    return { rows: null, tag: () => "CREATE SEQUENCE", notices: [existsNotice(name)] };
  }
  const evaluate = (e: Expr) => BigInt((e as { text: string }).text);
  await db.sequences.create(name, statement.options, evaluate);
  return { rows: null, tag: () => "CREATE SEQUENCE" };
}

export async function dropSequence(
  db: Database,
  statement: Extract<Statement, { kind: "drop_sequence" }>,
): Promise<Result> {
  const notices: SqlNotice[] = [];
  const names: string[] = [];
  for (const qualified of statement.names) {
    const name = bareName(qualified);
    if (db.sequences.has(name)) names.push(name);
    else if (db.tables.has(name)) {
      throw new SqlError("42809", `"${name}" is not a sequence`, {
        hint: `Use DROP ${db.tables.get(name)!.view ? "VIEW" : "TABLE"} to remove a ${
          db.tables.get(name)!.view ? "view" : "table"
        }.`,
      });
    } else if (statement.ifExists) {
      notices.push({ code: "00000", message: `sequence "${name}" does not exist, skipping` });
    } else throw new SqlError("42P01", `sequence "${name}" does not exist`);
  }
  for (const name of names) await db.sequences.drop(name);
  return { rows: null, tag: () => "DROP SEQUENCE", notices };
}

/** nextval, currval, setval, lastval and pg_get_serial_sequence, compiled over their arguments. */
/**
 * What sequence functions need from the planner. `prelude` registers work
 * to do before the statement runs: starting the counter of a SERIAL
 * column's sequence named by a constant (which reads the table).
 */
export interface SequenceHost {
  db: Database;
  session: SessionInfo;
  prelude(run: (ctx: RunContext) => Promise<void>): void;
  /** The sequence the first argument names when known before running (a constant). */
  named?: string;
}

interface SerialSequence {
  table: SqlTable;
  column: string;
  min: bigint;
  max: bigint;
}

/** Per database: serialOf's answers for one catalog version (a lookup walks every column). */
const serialCache = new WeakMap<
  Database,
  { version: number; found: Map<string, SerialSequence | null> }
>();

/** The SERIAL column `name` (`t_id_seq`) is the sequence of, with its bounds; null when none. */
function serialOf(db: Database, name: string): SerialSequence | null {
  if (db.sequences.has(name)) return null;
  let cache = serialCache.get(db);
  if (cache === undefined || cache.version !== db.catalogVersion) {
    serialCache.set(db, cache = { version: db.catalogVersion, found: new Map() });
  }
  const known = cache.found.get(name);
  if (known !== undefined) return known;
  const found = db.serialSequence(name);
  let answer: SerialSequence | null = null;
  if (found !== null) {
    const type = found.table.columns.find((c) => c.name === found.column)!.type;
    answer = { ...found, min: 1n, max: (RANGE[type] ?? RANGE.int8)[1] };
  }
  if (cache.found.size < 1024) cache.found.set(name, answer);
  return answer;
}

/** Remembers a SERIAL column's number for currval and lastval (an INSERT drew it). */
export function rememberSerial(
  session: object,
  table: SqlTable,
  column: SqlColumn,
  value: bigint,
): void {
  remember(session, sequenceName(table, column), value);
}

export function sequenceFunction(
  name: string,
  args: Compiled[],
  host: SequenceHost,
): Compiled {
  const { db, session } = host;
  // A SERIAL column's own sequence named by a constant: its counter is started first.
  const constant = args[0]?.constant?.value;
  const named = typeof constant === "string" ? sequenceArgument(constant) : host.named;
  if ((name === "nextval" || name === "setval") && named !== undefined) {
    const serial = serialOf(db, named);
    if (serial !== null) {
      host.prelude(async (ctx) => {
        await db.startCounter(ctx.sqlTx, serial.table, serial.column);
      });
    }
  }
  const arity = (counts: number[]) => {
    if (!counts.includes(args.length)) {
      const types = args.map((a) => typeDisplayName(a.type === "unknown" ? "unknown" : a.type));
      throw new SqlError("42883", `function ${name}(${types.join(", ")}) does not exist`, {
        hint:
          "No function matches the given name and argument types. You might need to add explicit type casts.",
      });
    }
  };
  const text = (i: number) => coerce(args[i], "text").evaluate;
  switch (name) {
    case "nextval":
    case "currval": {
      arity([1]);
      const seq = text(0);
      return {
        type: "int8",
        evaluate: (ctx) => {
          const value = seq(ctx);
          if (value === null) return null;
          const target = sequenceArgument(value);
          const serial = serialOf(db, target);
          if (serial === null) {
            return name === "nextval"
              ? db.sequences.nextval(session, target)
              : db.sequences.currval(session, target);
          }
          if (name === "currval") {
            const seen = sessionValues.get(session)?.values.get(target);
            if (seen === undefined) {
              throw new SqlError(
                "55000",
                `currval of sequence "${target}" is not yet defined in this session`,
              );
            }
            return seen;
          }
          const { value: next, write } = db.drawNow(serial.table, serial.column);
          if (write !== null) db.sequences.track(write);
          if (next > serial.max) {
            throw new SqlError(
              "2200H",
              `nextval: reached maximum value of sequence "${target}" (${serial.max})`,
            );
          }
          remember(session, target, next);
          return next;
        },
      };
    }
    case "setval": {
      arity([2, 3]);
      const seq = text(0);
      const value = coerce(args[1], "int8").evaluate;
      const called = args.length === 3 ? coerce(args[2], "bool").evaluate : () => true;
      return {
        type: "int8",
        evaluate: (ctx) => {
          const s = seq(ctx), v = value(ctx), c = called(ctx);
          if (s === null || v === null || c === null) return null;
          const target = sequenceArgument(s);
          const serial = serialOf(db, target);
          if (serial === null) {
            return db.sequences.setval(session, target, BigInt(v as bigint), c === true);
          }
          const n = BigInt(v as bigint);
          if (n < serial.min || n > serial.max) {
            throw new SqlError(
              "22003",
              `setval: value ${n} is out of bounds for sequence "${target}" (${serial.min}..${serial.max})`,
            );
          }
          db.sequences.track(db.setCounter(serial.table, serial.column, n, c === true));
          return n;
        },
      };
    }
    case "lastval":
      arity([0]);
      return {
        type: "int8",
        evaluate: () => db.sequences.lastval(session, (n) => db.serialSequence(n) !== null),
      };
    default: {
      // pg_get_serial_sequence(table, column)
      arity([2]);
      const table = text(0), column = text(1);
      return {
        type: "text",
        evaluate: (ctx) => {
          const t = table(ctx), c = column(ctx);
          if (t === null || c === null) return null;
          const tableName = sequenceArgument(t);
          const found = db.tables.get(tableName);
          if (!found || found.view) {
            throw new SqlError("42P01", `relation "${String(t)}" does not exist`);
          }
          const col = found.columns.find((x) => x.name === String(c));
          if (!col) {
            throw new SqlError(
              "42703",
              `column "${String(c)}" of relation "${tableName}" does not exist`,
            );
          }
          return col.serial ? `public.${sequenceName(found, col)}` : null;
        },
      };
    }
  }
}

/**
 * `run` that answers only once every sequence log write its nextval and
 * setval calls made is durable: after the run for a statement without
 * rows, before each batch for one with rows (a value is seen by no one
 * before the log covers it).
 */
export function withSequenceWrites(
  run: (ctx: RunContext) => Promise<Result>,
  sequences: Sequences,
): (ctx: RunContext) => Promise<Result> {
  return async (ctx) => {
    const result = await run(ctx);
    await sequences.settled();
    const rows = result.rows;
    if (rows === null) return result;
    async function* settledRows(): AsyncGenerator<PgValue[][]> {
      for await (const batch of rows!) {
        await sequences.settled();
        yield batch;
      }
    }
    return { ...result, rows: settledRows() };
  };
}
