//! The functions a module imports (`interstice.*`): table access through the call's
//! transaction, the result buffer, messages, and the call's timestamp, random numbers and
//! caller. Each works on the module's memory and the call's `ReducerContext`.

use std::sync::atomic::Ordering;

use wasmi::{Caller, Extern, Linker, StoreLimits};

use crate::runtime::ReducerContext;
use crate::runtime::codec;

/// Host functions' status: done (or a result's length when 0 or more).
const OK: i32 = 0;
/// No such row (`get`, `update`, `delete`), or the key exists (`insert`).
const MISSING: i32 = -1;
/// Any other error; its message is kept.
const FAILED: i32 = -2;

/// Bytes of `log` messages a call keeps; what is past them is counted, not kept, so a module
/// cannot make the host hold more than this for it (its own memory is bounded apart).
pub(crate) const LOG_BYTES_MAX: usize = 64 << 10;
/// Bytes of a `fail` message kept.
const FAIL_BYTES_MAX: usize = 4 << 10;

/// What a call's instance holds: the call's context, and what its host functions keep.
pub(crate) struct HostState<'c, 'a> {
    pub ctx: &'c mut ReducerContext<'a>,
    /// What `get`, `scan` and `filter` put for `read` to copy.
    pub result: Vec<u8>,
    /// The last host error's message.
    pub last_error: Option<String>,
    /// The message `fail` gave.
    pub failed: Option<String>,
    /// The messages `log` gave, up to `LOG_BYTES_MAX` bytes.
    pub logs: Vec<String>,
    /// Bytes of the messages kept.
    pub logs_kept: usize,
    /// Bytes of the messages past `LOG_BYTES_MAX`, dropped.
    pub logs_dropped: usize,
    pub limits: StoreLimits,
}

type Ctx<'w, 'c, 'a> = Caller<'w, HostState<'c, 'a>>;

/// The imports, for a call's store.
pub(crate) fn linker<'c, 'a>(engine: &wasmi::Engine) -> Linker<HostState<'c, 'a>> {
    let mut linker = Linker::new(engine);
    let module = "interstice";
    // Each name is defined once on a new linker: `func_wrap` cannot fail here.
    let defined = (|| {
        linker.func_wrap(module, "insert", insert)?;
        linker.func_wrap(module, "update", update)?;
        linker.func_wrap(module, "delete", delete)?;
        linker.func_wrap(module, "get", get)?;
        linker.func_wrap(module, "scan", scan)?;
        linker.func_wrap(module, "filter", filter)?;
        linker.func_wrap(module, "read", read)?;
        linker.func_wrap(module, "log", log)?;
        linker.func_wrap(module, "fail", fail)?;
        linker.func_wrap(module, "timestamp", timestamp)?;
        linker.func_wrap(module, "random", random)?;
        linker.func_wrap(module, "caller", caller)?;
        Ok::<(), wasmi::errors::LinkerError>(())
    })();
    defined.expect("each import is defined once");
    linker
}

/// The imports a module may name, with their parameter and result counts (all `i32` but the
/// `i64` results of `timestamp`, `random` and `caller`).
pub(crate) const IMPORTS: [(&str, usize, usize); 12] = [
    ("insert", 4, 1),
    ("update", 4, 1),
    ("delete", 4, 1),
    ("get", 4, 1),
    ("scan", 2, 1),
    ("filter", 6, 1),
    ("read", 1, 0),
    ("log", 2, 0),
    ("fail", 2, 0),
    ("timestamp", 0, 1),
    ("random", 0, 1),
    ("caller", 0, 1),
];

/// Takes `units` of the call's fuel for what a host function does (a unit per byte it
/// copies in or out): its work is bounded by the call's budget, as the module's own is.
fn charge(caller: &mut Ctx<'_, '_, '_>, units: usize) -> Result<(), wasmi::Error> {
    let fuel = caller.get_fuel()?;
    let units = u64::try_from(units).unwrap_or(u64::MAX);
    if fuel < units {
        caller.set_fuel(0)?;
        return Err(wasmi::TrapCode::OutOfFuel.into());
    }
    caller.set_fuel(fuel - units)
}

/// Bytes `ptr..ptr + len` of the module's memory, copied and charged; a trap when out of
/// bounds.
fn bytes(caller: &mut Ctx<'_, '_, '_>, ptr: i32, len: i32) -> Result<Vec<u8>, wasmi::Error> {
    super::HOST_CALLS.fetch_add(1, Ordering::Relaxed);
    charge(caller, usize::try_from(len).unwrap_or(0))?;
    let memory = memory(caller)?;
    let data = memory.data(caller);
    let start = usize::try_from(ptr).map_err(|_| trap("negative pointer"))?;
    let len = usize::try_from(len).map_err(|_| trap("negative length"))?;
    data.get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            trap(&format!(
                "bytes {start}..{} are outside memory",
                start + len
            ))
        })
}

fn text(caller: &mut Ctx<'_, '_, '_>, ptr: i32, len: i32) -> Result<String, wasmi::Error> {
    String::from_utf8(bytes(caller, ptr, len)?).map_err(|_| trap("a name is not UTF-8"))
}

fn memory(caller: &Ctx<'_, '_, '_>) -> Result<wasmi::Memory, wasmi::Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| trap("the module exports no memory"))
}

fn trap(message: &str) -> wasmi::Error {
    wasmi::Error::new(message.to_owned())
}

/// The status of a table operation, keeping an error's message.
fn status(state: &mut HostState<'_, '_>, done: crate::runtime::Result<()>) -> i32 {
    use crate::runtime::Error::{DuplicateKey, NotFound};
    match done {
        Ok(()) => OK,
        Err(error) => {
            let code = if matches!(error, DuplicateKey { .. } | NotFound { .. }) {
                MISSING
            } else {
                FAILED
            };
            state.last_error = Some(error.to_string());
            code
        }
    }
}

/// A decoded row or key, or the status of bytes that are not one.
fn decode<T>(
    state: &mut HostState<'_, '_>,
    what: &str,
    decoded: Result<T, String>,
) -> Result<T, i32> {
    decoded.map_err(|reason| {
        state.result.clear();
        state.last_error = Some(format!("{what}: {reason}"));
        FAILED
    })
}

/// A change to a table: its name and one encoded argument (a row, or a key) copied from the
/// module's memory, decoded, then `apply`'s status.
#[allow(clippy::too_many_arguments)] // the import's two (pointer, length) pairs, and how
fn change<T>(
    mut caller: Ctx<'_, '_, '_>,
    (t, tl): (i32, i32),
    (p, pl): (i32, i32),
    what: &str,
    decode: fn(&[u8]) -> Result<T, String>,
    apply: impl FnOnce(&mut ReducerContext<'_>, &str, T) -> crate::runtime::Result<()>,
) -> Result<i32, wasmi::Error> {
    let (table, bytes) = (text(&mut caller, t, tl)?, bytes(&mut caller, p, pl)?);
    let state = caller.data_mut();
    let decoded = match self::decode(state, what, decode(&bytes)) {
        Ok(decoded) => decoded,
        Err(status) => return Ok(status),
    };
    let done = apply(state.ctx, &table, decoded);
    Ok(status(state, done))
}

fn insert(caller: Ctx<'_, '_, '_>, t: i32, tl: i32, r: i32, rl: i32) -> Result<i32, wasmi::Error> {
    change(
        caller,
        (t, tl),
        (r, rl),
        "row",
        codec::values_of,
        |ctx, table, row| ctx.tx.insert_values_of(table, row),
    )
}

fn update(caller: Ctx<'_, '_, '_>, t: i32, tl: i32, r: i32, rl: i32) -> Result<i32, wasmi::Error> {
    change(
        caller,
        (t, tl),
        (r, rl),
        "row",
        codec::values_of,
        |ctx, table, row| ctx.tx.update_values_of(table, row),
    )
}

fn delete(caller: Ctx<'_, '_, '_>, t: i32, tl: i32, k: i32, kl: i32) -> Result<i32, wasmi::Error> {
    change(
        caller,
        (t, tl),
        (k, kl),
        "key",
        codec::value_of,
        |ctx, table, key| ctx.tx.delete_row(table, key).map(drop),
    )
}

/// Puts `result` (bytes for `read`) and answers its length.
fn answer(state: &mut HostState<'_, '_>, result: crate::runtime::Result<Option<Vec<u8>>>) -> i32 {
    match result {
        Ok(Some(bytes)) => {
            let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
            state.result = bytes;
            len
        }
        Ok(None) => {
            state.result.clear();
            MISSING
        }
        Err(error) => {
            state.result.clear();
            state.last_error = Some(error.to_string());
            FAILED
        }
    }
}

/// `status`, once the result it describes is charged (the work of making it).
fn charged(mut caller: Ctx<'_, '_, '_>, status: i32) -> Result<i32, wasmi::Error> {
    let len = caller.data().result.len();
    charge(&mut caller, len)?;
    Ok(status)
}

fn get(mut caller: Ctx<'_, '_, '_>, t: i32, tl: i32, k: i32, kl: i32) -> Result<i32, wasmi::Error> {
    let (table, key) = (text(&mut caller, t, tl)?, bytes(&mut caller, k, kl)?);
    let state = caller.data_mut();
    let key = match decode(state, "key", codec::value_of(&key)) {
        Ok(key) => key,
        Err(status) => return Ok(status),
    };
    let row = state
        .ctx
        .tx
        .get_values_of(&table, key)
        .map(|row| row.map(|values| codec::encode_values(&values)));
    let status = answer(state, row);
    charged(caller, status)
}

fn scan(mut caller: Ctx<'_, '_, '_>, t: i32, tl: i32) -> Result<i32, wasmi::Error> {
    let table = text(&mut caller, t, tl)?;
    let examined = caller.data().ctx.tx.rows_examined(&table, None);
    charge(&mut caller, examined)?;
    let state = caller.data_mut();
    let rows = state
        .ctx
        .tx
        .scan_values_of(&table)
        .map(|rows| Some(codec::encode_rows(&rows)));
    let status = answer(state, rows);
    charged(caller, status)
}

#[allow(clippy::too_many_arguments)] // the import's signature: three (pointer, length) pairs
fn filter(
    mut caller: Ctx<'_, '_, '_>,
    t: i32,
    tl: i32,
    c: i32,
    cl: i32,
    v: i32,
    vl: i32,
) -> Result<i32, wasmi::Error> {
    let (table, column, value) = (
        text(&mut caller, t, tl)?,
        text(&mut caller, c, cl)?,
        bytes(&mut caller, v, vl)?,
    );
    let examined = caller.data().ctx.tx.rows_examined(&table, Some(&column));
    charge(&mut caller, examined)?;
    let state = caller.data_mut();
    let value = match decode(state, "value", codec::value_of(&value)) {
        Ok(value) => value,
        Err(status) => return Ok(status),
    };
    let rows = state
        .ctx
        .tx
        .filter_values_of(&table, &column, value)
        .map(|rows| Some(codec::encode_rows(&rows)));
    let status = answer(state, rows);
    charged(caller, status)
}

fn read(mut caller: Ctx<'_, '_, '_>, dst: i32) -> Result<(), wasmi::Error> {
    super::HOST_CALLS.fetch_add(1, Ordering::Relaxed);
    let len = caller.data().result.len();
    charge(&mut caller, len)?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let start = usize::try_from(dst).map_err(|_| trap("negative pointer"))?;
    let end = start.saturating_add(state.result.len());
    let target = data
        .get_mut(start..end)
        .ok_or_else(|| trap(&format!("bytes {start}..{end} are outside memory")))?;
    target.copy_from_slice(&state.result);
    Ok(())
}

fn log(mut caller: Ctx<'_, '_, '_>, ptr: i32, len: i32) -> Result<(), wasmi::Error> {
    let room = LOG_BYTES_MAX.saturating_sub(caller.data().logs_kept);
    let wanted = usize::try_from(len).unwrap_or(0);
    let take = i32::try_from(wanted.min(room)).unwrap_or(0);
    let raw = bytes(&mut caller, ptr, take)?;
    let state = caller.data_mut();
    state.logs_dropped += wanted - wanted.min(room);
    if !raw.is_empty() {
        // Counted as the module's bytes, before invalid UTF-8 is replaced.
        state.logs_kept += raw.len();
        state.logs.push(String::from_utf8_lossy(&raw).into_owned());
    }
    Ok(())
}

fn fail(mut caller: Ctx<'_, '_, '_>, ptr: i32, len: i32) -> Result<(), wasmi::Error> {
    let take = len.min(i32::try_from(FAIL_BYTES_MAX).unwrap_or(i32::MAX));
    let message = String::from_utf8_lossy(&bytes(&mut caller, ptr, take)?).into_owned();
    caller.data_mut().failed = Some(message);
    Ok(())
}

#[allow(clippy::needless_pass_by_value)] // wasmi hands host functions the caller by value
fn timestamp(caller: Ctx<'_, '_, '_>) -> i64 {
    super::HOST_CALLS.fetch_add(1, Ordering::Relaxed);
    caller.data().ctx.timestamp.0.cast_signed()
}

fn random(mut caller: Ctx<'_, '_, '_>) -> i64 {
    super::HOST_CALLS.fetch_add(1, Ordering::Relaxed);
    caller.data_mut().ctx.rng.next_u64().cast_signed()
}

#[allow(clippy::needless_pass_by_value)] // wasmi hands host functions the caller by value
fn caller(caller: Ctx<'_, '_, '_>) -> i64 {
    super::HOST_CALLS.fetch_add(1, Ordering::Relaxed);
    caller.data().ctx.caller.0.cast_signed()
}
