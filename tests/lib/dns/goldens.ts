// Golden packets, captured on this machine with `dig` (BIND 9.18) against
// NSD 4.6.1 serving config/zones/example.com.zone, written as commented hex.

import { fromHex } from "../../../lib/bytes.ts";

/** `dig @127.0.0.1 example.com MX`: RD and AD set, EDNS 1232 with a client cookie. */
export const DIG_QUERY_MX = fromHex(`
  ed7d 0120 0001 0000 0000 0001   # id, flags RD AD, QD=1 AN=0 NS=0 AR=1
  07 6578616d706c65 03 636f6d 00  # example.com.
  000f 0001                       # MX IN
  00 0029 04d0 00000000 000c      # OPT: root, udp 1232, ext-rcode 0 v0 no DO, rdlen 12
  000a 0008 ac3b0e2a18a623f1      # COOKIE option (RFC 7873), 8-octet client cookie
`);

/** NSD's answer to DIG_QUERY_MX: compressed names in answer, authority and additional. */
export const NSD_ANSWER_MX = fromHex(`
  ed7d 8500 0001 0001 0001 0004   # QR AA RD, AN=1 NS=1 AR=4 (3 + OPT)
  07 6578616d706c65 03 636f6d 00 000f 0001
  c00c 000f 0001 00000e10 0009    # example.com. MX IN 3600, rdlen 9
    000a 04 6d61696c c00c         #   10 mail.example.com. (mail + pointer to 12)
  c00c 0002 0001 00000e10 0006    # example.com. NS IN 3600
    03 6e7331 c00c                #   ns1.example.com.
  c02b 0001 0001 00000e10 0004 7f000001   # mail.example.com. A 127.0.0.1 (pointer into MX RDATA)
  c03e 0001 0001 00000e10 0004 7f000001   # ns1.example.com. A 127.0.0.1
  c02b 001c 0001 00000e10 0010 00000000000000000000000000000001 # mail AAAA ::1
  00 0029 04d0 00000000 0000      # OPT: udp 1232
`);

/** `dig +noedns +norec www.example.com A`: the classic 33-octet query. */
export const DIG_QUERY_A_NOEDNS = fromHex(`
  0f30 0020 0001 0000 0000 0000   # AD set only
  03 777777 07 6578616d706c65 03 636f6d 00 0001 0001
`);

/** NSD's answer to DIG_QUERY_A_NOEDNS (no OPT: the client sent none). */
export const NSD_ANSWER_A = fromHex(`
  0f30 8400 0001 0001 0001 0001   # QR AA
  03 777777 07 6578616d706c65 03 636f6d 00 0001 0001
  c00c 0001 0001 00000e10 0004 7f000001   # www.example.com. A 127.0.0.1
  c010 0002 0001 00000e10 0006 03 6e7331 c010   # example.com. NS ns1.example.com.
  c03d 0001 0001 00000e10 0004 7f000001   # ns1.example.com. A 127.0.0.1
`);
