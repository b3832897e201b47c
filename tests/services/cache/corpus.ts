// The differential corpus: commands whose raw replies from our cache and
// from redis-server 7 must be byte for byte the same, in RESP2 and in
// RESP3. One command per line in inline syntax (quotes as redis-cli
// takes them). A line starting with "~ " has a reply whose element order
// Redis leaves unspecified (hash-table order): it is compared sorted.
// Lines run in order on one connection, starting from an empty server.
//
// Left out on purpose: anything whose reply holds times, ids or versions
// (INFO, CLIENT ID/LIST, TIME, HELLO, PTTL of a live key, COMMAND), and
// Redis 7.4+ commands (hash-field expiry) that redis-server 7.0 lacks,
// and floats beyond a double's range (Redis computes in long double).

export const CORPUS = String.raw`
PING
PING hello
PING a b
ECHO "hello world"
ECHO
FOO bar baz
foo
GET
SET
SET k
GET missing
SET k v
GET k
SET k v2 NX
SET k v3 XX
GET k
SET k2 v XX
SET k2 v NX
SET k v EX 100
TTL k
SET k v EX 0
SET k v EX -5
SET k v EX abc
SET k v PX 100000
TTL k
SET k v EX 10 PX 100
SET k v NX XX
SET k v KEEPTTL
TTL k
SET k v EX 100 KEEPTTL
SET k v GET
SET k v9 GET
SET k v EXAT 99999999999
EXPIRETIME k
SET k v PXAT 99999999999000
EXPIRETIME k
PEXPIRETIME k
SET k v BADOPT
SET k v EX
SET k v EX 9999999999999999999
SET k v EX 9223372036854775807
SETEX sx 100 val
TTL sx
SETEX sx 0 val
SETEX sx abc val
SETEX sx 10
PSETEX psx 100000 val
TTL psx
PSETEX psx -1 val
SETNX k other
SETNX newk value
GET newk
GETSET newk value2
GETSET nokey value
GETDEL nokey
GETDEL nokey
GETDEL nokey2
GETEX k
GETEX k PERSIST
TTL k
GETEX k EX 100
TTL k
GETEX k EX 100 PX 100
GETEX k FOO
GETEX missing
MSET a 1 b 2 c 3
MSET a 1 b
MGET a b c missing
MSETNX a 1 d 4
MSETNX d 4 e 5
MGET d e
INCR counter
INCR counter
INCRBY counter 10
INCRBY counter -3
DECR counter
DECRBY counter 5
GET counter
INCRBY counter abc
INCRBY counter 1.5
INCR k
SET big 9223372036854775806
INCR big
INCR big
SET small -9223372036854775808
DECR small
DECRBY small 1
DECRBY counter -9223372036854775808
INCRBY counter 9223372036854775807
SET sp " 1"
INCR sp
SET lead 01
INCR lead
SET fl 10.5
INCRBYFLOAT fl 0.1
INCRBYFLOAT fl -5
INCRBYFLOAT fl abc
INCRBYFLOAT newfl 3
INCRBYFLOAT newfl 2.5e3
SET notfl abc
INCRBYFLOAT notfl 1
INCR fl
APPEND ap hello
APPEND ap " world"
GET ap
STRLEN ap
STRLEN missing
GETRANGE ap 0 4
GETRANGE ap -5 -1
GETRANGE ap 6 100
GETRANGE ap 5 2
GETRANGE ap -1 -5
GETRANGE ap a b
GETRANGE missing 0 10
SETRANGE ap 6 WORLD
GET ap
SETRANGE sr 5 xx
GET sr
SETRANGE sr -1 xx
SETRANGE empty 0 ""
EXISTS empty
SETRANGE ap 0 ""
DEL a b c missing
EXISTS a d d missing
UNLINK d e
TYPE k
TYPE missing
SET e1 x
EXPIRE e1 100
TTL e1
EXPIRE e1 100 NX
EXPIRE e1 200 XX
TTL e1
EXPIRE e1 50 GT
EXPIRE e1 300 GT
TTL e1
EXPIRE e1 400 LT
EXPIRE e1 100 LT
TTL e1
EXPIRE e1 100 NX XX
EXPIRE e1 100 GT LT
EXPIRE e1 100 FOO
EXPIRE e1 abc
EXPIRE missing 100
EXPIRE e1
PERSIST e1
PERSIST e1
TTL e1
EXPIRE e1 100 LT
PERSIST e1
EXPIRE e1 100 GT
PEXPIRE e1 100000
TTL e1
EXPIREAT e1 99999999999
EXPIRETIME e1
PEXPIREAT e1 99999999999000
EXPIRETIME e1
EXPIRE e1 -1
EXISTS e1
TTL e1
PTTL e1
EXPIRETIME e1
SET e2 x
PTTL e2
EXPIRETIME e2
RENAME missing x
SET r1 one
RENAME r1 r2
GET r1
GET r2
RENAME r2 r2
RENAMENX r2 r2
SET r3 three
RENAMENX r2 r3
RENAMENX r2 r4
GET r4
RENAME r4
DBSIZE
DBSIZE extra
SELECT 1
DBSIZE
SET k db1
GET k
SELECT 0
GET k
SELECT 16
SELECT -1
SELECT abc
SWAPDB 0 1
GET k
SWAPDB 0 1
GET k
SWAPDB 0 99
SWAPDB a 1
FLUSHDB BADARG
FLUSHALL ASYNC
DBSIZE
RANDOMKEY
SET only one
RANDOMKEY
KEYS *
MSET key1 a key2 b other c
~ KEYS key*
~ KEYS *
KEYS k?y1
KEYS [a-k]ey2
KEYS nomatch*
SCAN abc
SCAN 0 COUNT 0
SCAN 0 FOO
HSET h f1 v1
HSET h f2 v2 f3 v3
HSET h f1 new
HSET h f1
HGET h f1
HGET h missing
HGET missing f
HMGET h f1 f2 nope
HGETALL h
HGETALL missing
HMSET h f4 v4
HSETNX h f1 x
HSETNX h f5 v5
HDEL h f5 nope
HDEL h
HEXISTS h f1
HEXISTS h nope
HLEN h
HLEN missing
HSTRLEN h f1
HSTRLEN h nope
HKEYS h
HVALS h
HKEYS missing
HINCRBY h n 5
HINCRBY h n -2
HINCRBY h f1 1
HINCRBY h n abc
HINCRBY h n 9223372036854775807
HINCRBYFLOAT h fl 1.5
HINCRBYFLOAT h fl 0.25
HINCRBYFLOAT h f1 1
HINCRBYFLOAT h fl abc
HGET h fl
HSCAN h abc
HGET k f
HSET k f v
LPUSH k x
SADD k x
LPUSH l a b c
RPUSH l d e
LRANGE l 0 -1
LRANGE l 1 2
LRANGE l -2 -1
LRANGE l 5 10
LRANGE l 3 1
LRANGE l a b
LRANGE missing 0 -1
LLEN l
LLEN missing
LINDEX l 0
LINDEX l -1
LINDEX l 100
LINDEX l abc
LINDEX missing 0
LSET l 0 A
LSET l 100 x
LSET missing 0 x
LSET l abc x
LRANGE l 0 -1
LPUSHX l z
LPUSHX nolist z
RPUSHX l y
RPUSHX nolist y
LPOP l
RPOP l
LPOP l 2
RPOP l 0
LPOP l -1
LPOP missing
LPOP missing 2
LPOP l abc
LRANGE l 0 -1
RPUSH lr a b a c a
LREM lr 2 a
LRANGE lr 0 -1
LREM lr -1 a
LREM lr 0 a
LREM lr 0 nothere
LRANGE lr 0 -1
LREM missing 0 a
LREM lr abc a
RPUSH lt 1 2 3 4 5
LTRIM lt 1 -2
LRANGE lt 0 -1
LTRIM lt 5 10
EXISTS lt
LTRIM missing 0 1
RPUSH li a b c
LINSERT li BEFORE b x
LINSERT li AFTER c y
LINSERT li AFTER nope y
LINSERT li MIDDLE b y
LINSERT missing BEFORE a b
LRANGE li 0 -1
RPUSH lp a b c 1 2 3 c c
LPOS lp c
LPOS lp c RANK 2
LPOS lp c RANK -1
LPOS lp c COUNT 0
LPOS lp c COUNT 2
LPOS lp c COUNT 0 MAXLEN 4
LPOS lp nope
LPOS lp nope COUNT 0
LPOS lp c RANK 0
LPOS lp c COUNT -1
LPOS lp c MAXLEN -1
LPOS lp c FOO 1
LPOS missing a
RPUSH src 1 2 3
LMOVE src dst LEFT RIGHT
LMOVE src dst RIGHT LEFT
LRANGE dst 0 -1
LMOVE src dst UP DOWN
LMOVE missing dst LEFT LEFT
RPOPLPUSH src dst
LRANGE src 0 -1
LRANGE dst 0 -1
BLPOP dst 1
BRPOP dst 1
BLPOP dst abc
BLPOP dst -1
BLPOP missing 0.01
BRPOP missing 0.01
BLMOVE dst src LEFT LEFT 1
BLMOVE missing src LEFT LEFT 0.01
SADD s a b c
SADD s a d
SREM s d nope
SCARD s
SCARD missing
SISMEMBER s a
SISMEMBER s z
SMISMEMBER s a z b
~ SMEMBERS s
SMEMBERS missing
SADD s1 a b c
SADD s2 b c d
~ SINTER s1 s2
~ SUNION s1 s2
~ SDIFF s1 s2
SINTER s1 missing
~ SUNION s1 missing
SINTERSTORE s3 s1 s2
SUNIONSTORE s4 s1 s2
SDIFFSTORE s5 s1 s2
SDIFFSTORE s5 missing s1
EXISTS s5
~ SMEMBERS s4
SMOVE s1 s2 a
SMOVE s1 s2 nope
SISMEMBER s2 a
SPOP missing
SPOP missing 2
SPOP s -1
SRANDMEMBER missing
SRANDMEMBER missing 3
SRANDMEMBER s 0
SADD single only
SPOP single
EXISTS single
SADD single2 only
SRANDMEMBER single2
SRANDMEMBER single2 -3
SRANDMEMBER single2 5
SSCAN s abc
SADD ints 3 1 2
SMEMBERS ints
SINTER ints ints
SADD k x
SMEMBERS k
MULTI
SET t 1
INCR t
GET t
EXEC
EXEC
DISCARD
MULTI
MULTI
SET t 2
DISCARD
GET t
MULTI
SET t 3
NOSUCHCOMMAND
EXEC
GET t
MULTI
GET
EXEC
MULTI
SET t x
INCR t
GET t
EXEC
WATCH t
SET t changed
MULTI
GET t
EXEC
WATCH t
MULTI
GET t
EXEC
UNWATCH
MULTI
WATCH t
DISCARD
PUBLISH ch hello
SUBSCRIBE
PSUBSCRIBE
CONFIG GET maxmemory
CONFIG GET maxmemory-policy
CONFIG SET maxmemory-policy allkeys-lru
CONFIG GET maxmemory-policy
CONFIG SET maxmemory-policy bogus
CONFIG SET maxmemory-policy noeviction
CONFIG SET nosuchparam 1
CONFIG FOO
CONFIG
CLIENT SETNAME myname
CLIENT GETNAME
CLIENT SETNAME "bad name"
CLIENT FOO
CLIENT
AUTH pass
AUTH user pass
SET bin "\x00\x01\xff"
GET bin
STRLEN bin
OBJECT_NOT_A_COMMAND x
HELLO 4
HELLO abc
HELLO 2 FOO
SET nanfl inf
INCRBYFLOAT nanfl 1
INCRBYFLOAT nanfl2 inf
SET sr2 hello
SETRANGE sr2 1 i
GETRANGE sr2 0 -1
SETRANGE sr2 10 x
GET sr2
SET ttlk v PX 1
LPUSH nums 3 2 1
SORT_NOT_IMPLEMENTED nums
LINDEX nums -4
LRANGE nums -100 100
LRANGE nums 0 0
HSET hh a 1 b 2 c 3
HDEL hh a c
HGETALL hh
HDEL hh b
EXISTS hh
HINCRBY hh y 9223372036854775807
HINCRBY hh y 1
SADD bigint 9223372036854775807 -9223372036854775808 0 -1
SMEMBERS bigint
SADD mixed 1 a 2
~ SMEMBERS mixed
SREM mixed a
~ SMEMBERS mixed
SMISMEMBER missing a b
SINTERSTORE nothing missing s
SUNIONSTORE dest1 missing
EXISTS dest1
EXPIRE e9
PEXPIRE missing 100
PERSIST missing
TTL missing
PTTL missing
GETEX k PX 0
GETEX k EXAT -1
SET k v PX 0
SET k v PXAT 0
MGET k list h missing
DEL k k k
APPEND k x
SETNX k y
GET k
RENAMENX k k2
RENAME k2 k
TYPE k
ECHO ""
PING ""
EXISTS
DEL
UNSUBSCRIBE
PUNSUBSCRIBE
FLUSHALL
SET oe:int 12345
SET oe:neg -12345
SET oe:emb hello
SET oe:raw xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
SET oe:long 123456789012345678901
RPUSH oe:list a b
SADD oe:iset 1 2 3
SADD oe:set a 1
HSET oe:hash f v
ZADD oe:z 1 a
MEMORY USAGE memory:missing
MEMORY USAGE memory:missing FOO
MEMORY USAGE oe:int SAMPLES -1
MEMORY USAGE oe:int SAMPLES x
MEMORY USAGE oe:int SAMPLES
MEMORY USAGE
MEMORY PURGE
MEMORY PURGE x
MEMORY NOPE
OBJECT ENCODING oe:int
OBJECT ENCODING oe:neg
OBJECT ENCODING oe:emb
OBJECT ENCODING oe:raw
OBJECT ENCODING oe:long
OBJECT ENCODING oe:list
OBJECT ENCODING oe:iset
OBJECT ENCODING oe:set
OBJECT ENCODING oe:hash
OBJECT ENCODING oe:z
OBJECT ENCODING missing
OBJECT ENCODING
OBJECT ENCODING a b
OBJECT FOO k
OBJECT
OBJECT HELP
OBJECT FREQ oe:int
OBJECT REFCOUNT oe:int
OBJECT REFCOUNT oe:neg
OBJECT REFCOUNT missing
OBJECT IDLETIME oe:int
OBJECT IDLETIME missing
DUMP oe:int
DUMP oe:neg
DUMP oe:emb
DUMP missing
RESTORE oe:int 0 x
RESTORE fresh 0 x
RESTORE fresh -1 x
RESTORE fresh 0 x REPLACE FOO
LATENCY DOCTOR
LATENCY LATEST
LATENCY RESET
LATENCY HISTORY foo
LATENCY GRAPH foo
LATENCY FOO
LATENCY HELP
SLOWLOG GET x
SLOWLOG GET -2
SLOWLOG HELP
SLOWLOG
CLIENT KILL 1.2.3.4:5
CLIENT KILL ID 9999
CLIENT KILL ID x
CLIENT KILL foo bar
CLIENT KILL TYPE foo
CLIENT KILL SKIPME x
CLIENT KILL ADDR 1.2.3.4:5 SKIPME no
CLIENT KILL USER foo
CLIENT REPLY foo
CLIENT PAUSE x
CLIENT PAUSE -1
CLIENT PAUSE 10 foo
CLIENT UNPAUSE
CLIENT NO-EVICT x
CLIENT NO-EVICT on
ZADD nan:s 1 x
ZADD nan:inf inf x
ZINTERSTORE nan:d 2 nan:s nan:inf WEIGHTS 1 0
ZSCORE nan:d x
ZINTERSTORE nan:d 2 nan:s nan:inf WEIGHTS 1 0 AGGREGATE MIN
ZSCORE nan:d x
ZINTERSTORE nan:d 2 nan:s nan:inf WEIGHTS 1 0 AGGREGATE MAX
ZSCORE nan:d x
ZINTERSTORE nan:d 2 nan:inf nan:s WEIGHTS 0 1
ZSCORE nan:d x
ZINTER 2 nan:s nan:inf WEIGHTS 1 0 WITHSCORES
ZUNION 2 nan:s nan:inf WEIGHTS 1 0 WITHSCORES
FLUSHALL
DBSIZE
`;

/** The corpus as lines, with the unordered flag split off. */
export function corpusLines(): { line: string; unordered: boolean }[] {
  return CORPUS.split("\n").filter((line) => line.trim() !== "").map((line) =>
    line.startsWith("~ ") ? { line: line.slice(2), unordered: true } : { line, unordered: false }
  );
}
