// `conn.write()` may write only part of what it is given; every server that
// sends a whole frame needs the loop that finishes the job.

/** Writes every byte of `data` to `conn`, however many writes it takes. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}
