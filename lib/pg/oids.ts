// The built-in PostgreSQL types we speak, by OID (src/include/catalog/
// pg_type.dat): the numbers a RowDescription, ParameterDescription and Parse
// carry, with each type's pg_type.typlen (RowDescription's type size) and its
// SQL name as error messages spell it.

import { ARRAY_OID_OF } from "./arrays.ts";

export const OID = Object.freeze({
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
});

/** One built-in type: its OID, typlen, and the name PostgreSQL's messages use. */
export interface PgType {
  oid: number;
  /** pg_type.typname */
  name: string;
  /** The name in messages such as `invalid input syntax for type integer`. */
  sqlName: string;
  /** pg_type.typlen: bytes, or -1 for variable width. */
  size: number;
}

const TYPES: PgType[] = [
  { oid: OID.bool, name: "bool", sqlName: "boolean", size: 1 },
  { oid: OID.bytea, name: "bytea", sqlName: "bytea", size: -1 },
  { oid: OID.char, name: "char", sqlName: '"char"', size: 1 },
  { oid: OID.name, name: "name", sqlName: "name", size: 64 },
  { oid: OID.int8, name: "int8", sqlName: "bigint", size: 8 },
  { oid: OID.int2, name: "int2", sqlName: "smallint", size: 2 },
  { oid: OID.int4, name: "int4", sqlName: "integer", size: 4 },
  { oid: OID.text, name: "text", sqlName: "text", size: -1 },
  { oid: OID.oid, name: "oid", sqlName: "oid", size: 4 },
  { oid: OID.json, name: "json", sqlName: "json", size: -1 },
  { oid: OID.float4, name: "float4", sqlName: "real", size: 4 },
  { oid: OID.float8, name: "float8", sqlName: "double precision", size: 8 },
  { oid: OID.unknown, name: "unknown", sqlName: "unknown", size: -2 },
  { oid: OID.bpchar, name: "bpchar", sqlName: "character", size: -1 },
  { oid: OID.varchar, name: "varchar", sqlName: "character varying", size: -1 },
  { oid: OID.date, name: "date", sqlName: "date", size: 4 },
  { oid: OID.time, name: "time", sqlName: "time without time zone", size: 8 },
  { oid: OID.timestamp, name: "timestamp", sqlName: "timestamp without time zone", size: 8 },
  { oid: OID.timestamptz, name: "timestamptz", sqlName: "timestamp with time zone", size: 8 },
  { oid: OID.interval, name: "interval", sqlName: "interval", size: 16 },
  { oid: OID.numeric, name: "numeric", sqlName: "numeric", size: -1 },
  { oid: OID.uuid, name: "uuid", sqlName: "uuid", size: 16 },
  { oid: OID.jsonb, name: "jsonb", sqlName: "jsonb", size: -1 },
];

// The array types (pg_type's `_int4` ...): named `integer[]` in messages, variable width.
for (const [element, array] of ARRAY_OID_OF) {
  const of = TYPES.find((t) => t.oid === element);
  if (of !== undefined) {
    TYPES.push({ oid: array, name: `_${of.name}`, sqlName: `${of.sqlName}[]`, size: -1 });
  }
}

const BY_OID = new Map(TYPES.map((type) => [type.oid, type]));

/** The type with this OID, or undefined for one we do not know. */
export function typeByOid(oid: number): PgType | undefined {
  return BY_OID.get(oid);
}

/** Type modifier of varchar(n) and char(n): n + VARHDRSZ (4), as atttypmod stores it. */
export function charTypeModifier(length: number): number {
  return length + 4;
}

/** Type modifier of numeric(precision, scale): ((precision << 16) | scale) + VARHDRSZ. */
export function numericTypeModifier(precision: number, scale: number): number {
  return ((precision << 16) | (scale & 0xffff)) + 4;
}
