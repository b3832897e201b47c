// SCRAM-SHA-256 authentication (RFC 5802, RFC 7677) as PostgreSQL uses it
// (documentation 55.3.1 "SCRAM-SHA-256 Authentication"): the server side,
// plus the client's proof so tests and our future client share one
// implementation.
//
// The exchange is pure text in and text out: parseClientFirst ->
// serverFirstMessage -> parseClientFinal -> the verdict. The only
// computations needing crypto (PBKDF2, HMAC, SHA-256) go through WebCrypto,
// which is async, so they sit in three small async functions at the edges
// (scramSecret, verifyClientProof, clientProof) and the parsing and state
// stay synchronous and testable without them.
//
// Left out: channel binding (SCRAM-SHA-256-PLUS: we do not serve TLS), and
// SASLprep of passwords (RFC 4013): passwords are used as their UTF-8 bytes,
// which equals SASLprep for the printable ASCII passwords people use; the
// username in client-first is ignored, as PostgreSQL ignores it (the startup
// packet's user counts).

import type { Bytes } from "../bytes.ts";
import { DecodeError } from "../errors.ts";

/** A malformed SCRAM message: PostgreSQL answers 08P01 "malformed SCRAM message". */
export class ScramError extends DecodeError {
  override name = "ScramError";
  readonly code = "08P01";
  /** PostgreSQL's DETAIL line. */
  readonly detail: string;
  constructor(detail: string) {
    super("malformed SCRAM message");
    this.detail = detail;
  }
}

/** What the server stores per role: PostgreSQL's rolpassword "SCRAM-SHA-256$..." verifier. */
export interface ScramSecret {
  iterations: number;
  salt: Bytes;
  storedKey: Bytes;
  serverKey: Bytes;
}

/** client-first-message (RFC 5802 7). */
export interface ClientFirst {
  /** "n,," or "y,,": replayed in client-final's c= attribute. */
  gs2Header: string;
  clientNonce: string;
  /** client-first-message-bare, part of the AuthMessage. */
  bare: string;
}

/** What the server remembers between its first and final messages. */
export interface ScramServerState {
  gs2Header: string;
  /** client nonce + server nonce. */
  nonce: string;
  clientFirstBare: string;
  serverFirst: string;
}

/** client-final-message (RFC 5802 7). */
export interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: Bytes;
  /** client-final-message-without-proof, part of the AuthMessage. */
  withoutProof: string;
}

/** PostgreSQL's default iteration count (scram_iterations). */
export const SCRAM_ITERATIONS_DEFAULT = 4096;

const encoder = new TextEncoder();

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Bytes {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ScramError("Invalid base64 value.");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Splits "a=x,b=y" into its attributes, checking the expected letters in order. */
function attributes(text: string, letters: string): string[] {
  const parts = text.split(",");
  if (parts.length < letters.length) {
    throw new ScramError(
      'Expected attribute "' + letters[parts.length] + '" but found end of string.',
    );
  }
  return [...letters].map((letter, i) => {
    const part = parts[i];
    if (part[0] !== letter || part[1] !== "=") {
      throw new ScramError(`Expected attribute "${letter}" but found "${part.slice(0, 1)}".`);
    }
    return part.slice(2);
  });
}

/** A printable nonce (RFC 5802: printable ASCII except ','). */
function checkNonce(nonce: string): void {
  if (nonce === "" || !/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) {
    throw new ScramError("Invalid nonce.");
  }
}

/** Parses client-first-message. */
export function parseClientFirst(text: string): ClientFirst {
  const flag = text[0];
  if (flag === "p") {
    throw new ScramError(
      "The client selected SCRAM-SHA-256-PLUS, but the server did not offer it.",
    );
  }
  if (flag !== "n" && flag !== "y") {
    throw new ScramError(`Unexpected channel-binding flag "${flag ?? ""}".`);
  }
  if (text[1] !== ",") {
    throw new ScramError('Comma expected, but found character "' + (text[1] ?? "") + '".');
  }
  const authzidEnd = text.indexOf(",", 2);
  if (authzidEnd === -1) throw new ScramError("Comma expected, but found end of string.");
  if (authzidEnd !== 2) {
    throw new ScramError("Client uses authorization identity, but it is not supported.");
  }
  const gs2Header = text.slice(0, 3);
  const bare = text.slice(3);
  if (bare.startsWith("m=")) {
    throw new ScramError("Client requires an unsupported SCRAM extension.");
  }
  const [, clientNonce] = attributes(bare, "nr");
  checkNonce(clientNonce);
  return { gs2Header, clientNonce, bare };
}

/** The server-first-message, and the state to keep for the client's final message. */
export function serverFirstMessage(
  clientFirst: ClientFirst,
  secret: ScramSecret,
  serverNonce: string,
): { message: string; state: ScramServerState } {
  checkNonce(serverNonce);
  const nonce = clientFirst.clientNonce + serverNonce;
  const message = `r=${nonce},s=${toBase64(secret.salt)},i=${secret.iterations}`;
  return {
    message,
    state: {
      gs2Header: clientFirst.gs2Header,
      nonce,
      clientFirstBare: clientFirst.bare,
      serverFirst: message,
    },
  };
}

/** Parses client-final-message. */
export function parseClientFinal(text: string): ClientFinal {
  const proofAt = text.lastIndexOf(",p=");
  if (proofAt === -1) throw new ScramError("Could not find proof in client-final-message.");
  const withoutProof = text.slice(0, proofAt);
  const [channelBinding, nonce] = attributes(withoutProof, "cr");
  const proof = fromBase64(text.slice(proofAt + 3));
  if (proof.length !== 32) throw new ScramError("Malformed proof in client-final-message.");
  return { channelBinding, nonce, proof, withoutProof };
}

/**
 * Checks client-final against the state (channel binding and nonce) and
 * returns the AuthMessage the proof signs (RFC 5802 3).
 */
export function authMessageFor(state: ScramServerState, final: ClientFinal): string {
  if (final.channelBinding !== toBase64(encoder.encode(state.gs2Header))) {
    throw new ScramError("Channel binding check failed.");
  }
  if (final.nonce !== state.nonce) throw new ScramError("Nonce does not match.");
  return `${state.clientFirstBare},${state.serverFirst},${final.withoutProof}`;
}

// The async edges: WebCrypto.

async function hmac(key: Uint8Array, message: Uint8Array): Promise<Bytes> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new Uint8Array(message)));
}

async function sha256(data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
}

async function saltedPassword(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Bytes> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(salt), iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

function xor(a: Uint8Array, b: Uint8Array): Bytes {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Derives what the server stores for a password (RFC 5802 3). */
export async function scramSecret(
  password: string,
  salt: Uint8Array,
  iterations: number = SCRAM_ITERATIONS_DEFAULT,
): Promise<ScramSecret> {
  const salted = await saltedPassword(password, salt, iterations);
  const clientKey = await hmac(salted, encoder.encode("Client Key"));
  return {
    iterations,
    salt: new Uint8Array(salt),
    storedKey: await sha256(clientKey),
    serverKey: await hmac(salted, encoder.encode("Server Key")),
  };
}

/**
 * Verifies the client's proof; on success returns the server-final-message
 * ("v=" and the server signature) for AuthenticationSASLFinal, else null
 * (PostgreSQL then fails with 28P01 password authentication failed).
 */
export async function verifyClientProof(
  secret: ScramSecret,
  authMessage: string,
  proof: Uint8Array,
): Promise<string | null> {
  const message = encoder.encode(authMessage);
  const clientSignature = await hmac(secret.storedKey, message);
  const clientKey = xor(proof, clientSignature);
  if (!equalConstantTime(await sha256(clientKey), secret.storedKey)) return null;
  return `v=${toBase64(await hmac(secret.serverKey, message))}`;
}

/** The client's proof for an AuthMessage (client side, RFC 5802 3). */
export async function clientProof(
  password: string,
  salt: Uint8Array,
  iterations: number,
  authMessage: string,
): Promise<Bytes> {
  const salted = await saltedPassword(password, salt, iterations);
  const clientKey = await hmac(salted, encoder.encode("Client Key"));
  const clientSignature = await hmac(await sha256(clientKey), encoder.encode(authMessage));
  return xor(clientKey, clientSignature);
}

/** Formats a secret as PostgreSQL stores it: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. */
export function formatScramSecret(secret: ScramSecret): string {
  return `SCRAM-SHA-256$${secret.iterations}:${toBase64(secret.salt)}$` +
    `${toBase64(secret.storedKey)}:${toBase64(secret.serverKey)}`;
}

/** Parses PostgreSQL's stored verifier format; null when it is not one. */
export function parseScramSecret(text: string): ScramSecret | null {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(text);
  if (match === null) return null;
  try {
    const secret = {
      iterations: Number(match[1]),
      salt: fromBase64(match[2]),
      storedKey: fromBase64(match[3]),
      serverKey: fromBase64(match[4]),
    };
    return secret.storedKey.length === 32 && secret.serverKey.length === 32 ? secret : null;
  } catch {
    return null;
  }
}
