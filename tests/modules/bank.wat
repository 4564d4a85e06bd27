;; A bank as a module: accounts, transfers between them, random draws, and reducers that
;; trap, loop forever or allocate without bound. Arguments and rows use the runtime's value
;; encoding (docs/WASM_ABI.md): a count, then tagged values (4 u64 varint, 3 i64 zigzag).
(module
  (import "interstice" "insert" (func $insert (param i32 i32 i32 i32) (result i32)))
  (import "interstice" "update" (func $update (param i32 i32 i32 i32) (result i32)))
  (import "interstice" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "interstice" "read" (func $read (param i32)))
  (import "interstice" "log" (func $log (param i32 i32)))
  (import "interstice" "fail" (func $fail (param i32 i32)))
  (import "interstice" "random" (func $random (result i64)))
  (import "interstice" "timestamp" (func $timestamp (result i64)))
  (import "interstice" "caller" (func $caller (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "accounts")
  (data (i32.const 16) "draws")
  (data (i32.const 32) "insufficient funds")
  (data (i32.const 64) "no such account")
  (data (i32.const 96) "transfer done")

  ;; Arguments go at 2048; rows are built at 512, keys at 256, rows read at 768 and 1024.
  (func (export "alloc") (param $n i32) (result i32) (i32.const 2048))

  ;; The varint at $p, and the position after it.
  (func $get_varint (param $p i32) (result i64 i32)
    (local $v i64) (local $shift i64) (local $b i32)
    (loop $next
      (local.set $b (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $v
        (i64.or (local.get $v)
          (i64.shl (i64.extend_i32_u (i32.and (local.get $b) (i32.const 127)))
                   (local.get $shift))))
      (local.set $shift (i64.add (local.get $shift) (i64.const 7)))
      (br_if $next (i32.and (local.get $b) (i32.const 128))))
    (local.get $v) (local.get $p))

  ;; Writes $v as a varint at $p; the position after it.
  (func $put_varint (param $p i32) (param $v i64) (result i32)
    (loop $next
      (if (i64.ge_u (local.get $v) (i64.const 128))
        (then
          (i32.store8 (local.get $p)
            (i32.or (i32.wrap_i64 (i64.and (local.get $v) (i64.const 127))) (i32.const 128)))
          (local.set $v (i64.shr_u (local.get $v) (i64.const 7)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $next))))
    (i32.store8 (local.get $p) (i32.wrap_i64 (local.get $v)))
    (i32.add (local.get $p) (i32.const 1)))

  (func $zigzag (param $v i64) (result i64)
    (i64.xor (i64.shl (local.get $v) (i64.const 1)) (i64.shr_s (local.get $v) (i64.const 63))))

  (func $unzigzag (param $u i64) (result i64)
    (i64.xor (i64.shr_u (local.get $u) (i64.const 1))
             (i64.sub (i64.const 0) (i64.and (local.get $u) (i64.const 1)))))

  ;; The account row [2][4 id][3 balance] at $p; its length.
  (func $account_row (param $p i32) (param $id i64) (param $balance i64) (result i32)
    (local $q i32)
    (i32.store8 (local.get $p) (i32.const 2))
    (i32.store8 (i32.add (local.get $p) (i32.const 1)) (i32.const 4))
    (local.set $q (call $put_varint (i32.add (local.get $p) (i32.const 2)) (local.get $id)))
    (i32.store8 (local.get $q) (i32.const 3))
    (local.set $q (call $put_varint (i32.add (local.get $q) (i32.const 1))
                                    (call $zigzag (local.get $balance))))
    (i32.sub (local.get $q) (local.get $p)))

  ;; The balance of account $id (its row read into $buf), and 1; or 0 and 0 without one.
  (func $balance (param $id i64) (param $buf i32) (result i64 i32)
    (local $p i32) (local $v i64)
    (i32.store8 (i32.const 256) (i32.const 4))
    (local.set $p (call $put_varint (i32.const 257) (local.get $id)))
    (if (i32.lt_s (call $get (i32.const 0) (i32.const 8) (i32.const 256)
                             (i32.sub (local.get $p) (i32.const 256)))
                  (i32.const 0))
      (then (return (i64.const 0) (i32.const 0))))
    (call $read (local.get $buf))
    (call $get_varint (i32.add (local.get $buf) (i32.const 2)))
    (local.set $p) (drop)
    (call $get_varint (i32.add (local.get $p) (i32.const 1)))
    (drop) (local.set $v)
    (call $unzigzag (local.get $v)) (i32.const 1))

  ;; open_account(id: u64, balance: i64): its arguments are the row.
  (func (export "reducer.open_account") (param $args i32) (param $len i32) (result i32)
    (if (result i32) (i32.eqz (call $insert (i32.const 0) (i32.const 8)
                                            (local.get $args) (local.get $len)))
      (then (i32.const 0)) (else (i32.const 1))))

  ;; transfer(from: u64, to: u64, amount: i64)
  (func (export "reducer.transfer") (param $args i32) (param $len i32) (result i32)
    (local $p i32) (local $from i64) (local $to i64) (local $amount i64)
    (local $a i64) (local $b i64) (local $found i32) (local $n i32)
    (call $get_varint (i32.add (local.get $args) (i32.const 2)))
    (local.set $p) (local.set $from)
    (call $get_varint (i32.add (local.get $p) (i32.const 1)))
    (local.set $p) (local.set $to)
    (call $get_varint (i32.add (local.get $p) (i32.const 1)))
    (local.set $p) (local.set $amount)
    (local.set $amount (call $unzigzag (local.get $amount)))
    (call $balance (local.get $from) (i32.const 768))
    (local.set $found) (local.set $a)
    (if (i32.eqz (local.get $found))
      (then (call $fail (i32.const 64) (i32.const 15)) (return (i32.const 1))))
    (call $balance (local.get $to) (i32.const 1024))
    (local.set $found) (local.set $b)
    (if (i32.eqz (local.get $found))
      (then (call $fail (i32.const 64) (i32.const 15)) (return (i32.const 1))))
    (if (i64.lt_s (local.get $a) (local.get $amount))
      (then (call $fail (i32.const 32) (i32.const 18)) (return (i32.const 1))))
    (local.set $n (call $account_row (i32.const 512) (local.get $from)
                                     (i64.sub (local.get $a) (local.get $amount))))
    (if (call $update (i32.const 0) (i32.const 8) (i32.const 512) (local.get $n))
      (then (return (i32.const 2))))
    (local.set $n (call $account_row (i32.const 512) (local.get $to)
                                     (i64.add (local.get $b) (local.get $amount))))
    (if (call $update (i32.const 0) (i32.const 8) (i32.const 512) (local.get $n))
      (then (return (i32.const 2))))
    (call $log (i32.const 96) (i32.const 13))
    (i32.const 0))

  ;; draw(id: u64): a row of draws with a random number, the timestamp and the caller.
  (func (export "reducer.draw") (param $args i32) (param $len i32) (result i32)
    (local $p i32) (local $id i64)
    (call $get_varint (i32.add (local.get $args) (i32.const 2)))
    (local.set $p) (local.set $id)
    (i32.store8 (i32.const 512) (i32.const 4))
    (i32.store8 (i32.const 513) (i32.const 4))
    (local.set $p (call $put_varint (i32.const 514) (local.get $id)))
    (i32.store8 (local.get $p) (i32.const 4))
    (local.set $p (call $put_varint (i32.add (local.get $p) (i32.const 1)) (call $random)))
    (i32.store8 (local.get $p) (i32.const 4))
    (local.set $p (call $put_varint (i32.add (local.get $p) (i32.const 1)) (call $timestamp)))
    (i32.store8 (local.get $p) (i32.const 4))
    (local.set $p (call $put_varint (i32.add (local.get $p) (i32.const 1)) (call $caller)))
    (if (result i32) (i32.eqz (call $insert (i32.const 16) (i32.const 5) (i32.const 512)
                                            (i32.sub (local.get $p) (i32.const 512))))
      (then (i32.const 0)) (else (i32.const 1))))

  ;; crash(id: u64, balance: i64): opens the account, then traps.
  (func (export "reducer.crash") (param $args i32) (param $len i32) (result i32)
    (drop (call $insert (i32.const 0) (i32.const 8) (local.get $args) (local.get $len)))
    unreachable)

  ;; spin(): loops forever.
  (func (export "reducer.spin") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))

  ;; hog(): grows memory until it cannot.
  (func (export "reducer.hog") (param i32 i32) (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (i32.const 0))

  ;; chatter(): logs all of its memory, twice.
  (func (export "reducer.chatter") (param i32 i32) (result i32)
    (call $log (i32.const 0) (i32.const 65536))
    (call $log (i32.const 0) (i32.const 65536))
    (i32.const 0))

  ;; The description: JSON, in pieces (a text-format string holds no newline).
  (@custom "interstice"
    "{\"tables\": ["
    "{\"name\": \"accounts\", \"columns\": [{\"name\": \"id\", \"type\": \"u64\"},"
    " {\"name\": \"balance\", \"type\": \"i64\"}]},"
    "{\"name\": \"draws\", \"columns\": [{\"name\": \"id\", \"type\": \"u64\"},"
    " {\"name\": \"value\", \"type\": \"u64\"}, {\"name\": \"at\", \"type\": \"u64\"},"
    " {\"name\": \"caller\", \"type\": \"u64\"}]}],"
    " \"reducers\": ["
    "{\"name\": \"open_account\", \"params\": [{\"name\": \"id\", \"type\": \"u64\"},"
    " {\"name\": \"balance\", \"type\": \"i64\"}]},"
    "{\"name\": \"transfer\", \"params\": [{\"name\": \"from\", \"type\": \"u64\"},"
    " {\"name\": \"to\", \"type\": \"u64\"}, {\"name\": \"amount\", \"type\": \"i64\"}]},"
    "{\"name\": \"draw\", \"params\": [{\"name\": \"id\", \"type\": \"u64\"}]},"
    "{\"name\": \"crash\", \"params\": [{\"name\": \"id\", \"type\": \"u64\"},"
    " {\"name\": \"balance\", \"type\": \"i64\"}]},"
    "{\"name\": \"spin\"}, {\"name\": \"chatter\"},"
    "{\"name\": \"hog\"}]}")
)
