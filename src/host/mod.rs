//! The WASM module host (feature `wasm`): loads modules, finds their tables and reducers in
//! their description, and runs each reducer call as one logged transaction. Replay never
//! runs a module. The ABI is in `docs/WASM_ABI.md`, the guide in `docs/MODULE_HOST.md`.
//!
//! ```
//! use interstice::host::{Limits, Module};
//! use interstice::runtime::{Caller, Runtime, RuntimeConfig, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = Module::from_bytes("counter", COUNTER.as_bytes())?;
//! # let dir = tempfile::tempdir().unwrap();
//! let runtime = Runtime::open(RuntimeConfig::new(dir.path()))?;
//! let args = vec![Value::U64(5)];
//! let outcome = module.call(&runtime, Caller(1), "bump", args, &Limits::default())?;
//! assert_eq!(runtime.get_row("counts", 5u64)?.unwrap().get("n"), Some(&Value::U64(1)));
//! assert!(outcome.lsn > interstice::Lsn::ZERO);
//! # Ok(())
//! # }
//! # const COUNTER: &str = r#"(module
//! #   (import "interstice" "insert" (func $insert (param i32 i32 i32 i32) (result i32)))
//! #   (memory (export "memory") 1)
//! #   (data (i32.const 0) "counts")
//! #   (func (export "alloc") (param i32) (result i32) (i32.const 1024))
//! #   ;; args at 1024: [1][4][key varint] (one u64 below 128); the row: [2][4][key][4][1]
//! #   (func (export "reducer.bump") (param i32 i32) (result i32)
//! #     (i32.store8 (i32.const 64) (i32.const 2))
//! #     (i32.store8 (i32.const 65) (i32.const 4))
//! #     (i32.store8 (i32.const 66) (i32.load8_u (i32.add (local.get 0) (i32.const 2))))
//! #     (i32.store8 (i32.const 67) (i32.const 4))
//! #     (i32.store8 (i32.const 68) (i32.const 1))
//! #     (drop (call $insert (i32.const 0) (i32.const 6) (i32.const 64) (i32.const 5)))
//! #     (i32.const 0))
//! #   (@custom "interstice"
//! #     "{\"tables\":[{\"name\":\"counts\",\"columns\":[{\"name\":\"k\",\"type\":\"u64\"},"
//! #     "{\"name\":\"n\",\"type\":\"u64\"}]}],"
//! #     "\"reducers\":[{\"name\":\"bump\",\"params\":[{\"name\":\"k\",\"type\":\"u64\"}]}]}"))"#;
//! ```

mod describe;
mod imports;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmi::errors::{ErrorKind, InstantiationError, MemoryError};
use wasmi::{Config, Engine, ExternType, Store, StoreLimitsBuilder, TrapCode, ValType};

pub use describe::{Description, ModuleParam, ModuleReducer};
use imports::HostState;

use crate::Lsn;
use crate::runtime::{Caller, ColumnType, ModuleRef, Row, Runtime, Schema, Value};

/// WASM instances created, over the process (every call creates one).
static INSTANCES: AtomicU64 = AtomicU64::new(0);
/// Host functions called by modules, over the process.
static HOST_CALLS: AtomicU64 = AtomicU64::new(0);
/// Reducer calls started, over the process.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// What the host has run in this process: what a test counts to see that replay runs none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostMetrics {
    /// Reducer calls started.
    pub calls: u64,
    /// WASM instances created.
    pub instances: u64,
    /// Host functions called by modules.
    pub host_calls: u64,
}

/// The counters since the process started.
#[must_use]
pub fn metrics() -> HostMetrics {
    HostMetrics {
        calls: CALLS.load(Ordering::Relaxed),
        instances: INSTANCES.load(Ordering::Relaxed),
        host_calls: HOST_CALLS.load(Ordering::Relaxed),
    }
}

/// The table where the runtime records which build of each module it has: name, hash, size
/// and reducers. Installing a new build of a module is a logged update of its row.
pub const MODULES_TABLE: &str = "interstice.modules";

/// What one call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Instructions (wasmi's fuel units) a call may run. Default: 10,000,000.
    pub fuel: u64,
    /// Bytes of linear memory a call's instance may have. Default: 16 MiB.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 10_000_000,
            memory_bytes: 16 << 20,
        }
    }
}

/// Why a module could not be loaded or a call did not commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The module's file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The module is not valid WebAssembly (or text), or breaks the ABI.
    #[error("module {module}: {reason}")]
    Invalid {
        /// The module's name.
        module: String,
        /// What is wrong.
        reason: String,
    },
    /// The call did not commit; nothing was written.
    #[error("module {module}, reducer {reducer}: {failure}")]
    Call {
        /// The module's name.
        module: String,
        /// The reducer.
        reducer: String,
        /// How it failed.
        failure: CallFailure,
    },
    /// The runtime failed (a table the module declares differs from the runtime's, the
    /// log...).
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
}

/// How a module's reducer call failed; in every case nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallFailure {
    /// The module has no reducer of that name.
    #[error("no such reducer (the module has {0})")]
    NoSuchReducer(String),
    /// The arguments do not fit the reducer's parameters.
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The reducer returned an error.
    #[error("refused: {0}")]
    Refused(String),
    /// The module trapped.
    #[error("trapped: {0}")]
    Trap(String),
    /// The call ran out of fuel (its instruction budget).
    #[error("ran out of fuel ({0} units)")]
    OutOfFuel(u64),
    /// The call's instance reached its memory limit.
    #[error("exceeded its memory limit ({0} bytes)")]
    OutOfMemory(usize),
}

/// What a committed call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// The LSN of its record.
    pub lsn: Lsn,
    /// The messages the module logged: 64 KiB of them at most, then one saying how many
    /// bytes were dropped.
    pub logs: Vec<String>,
    /// Fuel the call used.
    pub fuel_used: u64,
}

/// A loaded module: validated, described, hashed. Cheap to call many times; `Send + Sync`.
pub struct Module {
    name: String,
    hash: [u8; 16],
    size: usize,
    engine: Engine,
    wasm: wasmi::Module,
    description: Description,
    /// The runtimes (`Runtime::instance`) this module was installed in.
    installed: parking_lot::Mutex<Vec<u64>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("hash", &self.module_ref().hash_hex())
            .field("reducers", &self.description.reducers)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Loads a module from its bytes: WebAssembly, or its text form (`.wat`).
    ///
    /// # Errors
    /// `HostError::Invalid`: not WebAssembly, invalid, no or a bad description, exports or
    /// imports that break the ABI (`docs/WASM_ABI.md`).
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Module, HostError> {
        let name = name.into();
        let invalid = |reason: String| HostError::Invalid {
            module: name.clone(),
            reason,
        };
        let wasm: Cow<'_, [u8]> = if bytes.starts_with(b"\0asm") {
            Cow::Borrowed(bytes)
        } else {
            Cow::Owned(
                wat::parse_bytes(bytes)
                    .map_err(|e| invalid(e.to_string()))?
                    .into_owned(),
            )
        };
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let compiled = wasmi::Module::new(&engine, &wasm).map_err(|e| invalid(e.to_string()))?;
        let section = compiled
            .custom_sections()
            .find(|s| s.name() == describe::SECTION)
            .ok_or_else(|| invalid(format!("no custom section {:?}", describe::SECTION)))?;
        let description = describe::parse(section.data()).map_err(invalid)?;
        check_abi(&compiled, &description).map_err(invalid)?;
        Ok(Module {
            name,
            hash: xxhash_rust::xxh3::xxh3_128(&wasm).to_le_bytes(),
            size: wasm.len(),
            engine,
            wasm: compiled,
            description,
            installed: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Loads a module from a file (`.wasm`, or `.wat` text), named after the file's stem.
    ///
    /// # Errors
    /// `HostError::Read` naming the file; as [`Module::from_bytes`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Module, HostError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| HostError::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
        Module::from_bytes(name, &bytes)
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module's name and hash, as its calls' records hold them.
    pub fn module_ref(&self) -> ModuleRef {
        ModuleRef {
            name: self.name.clone(),
            hash: self.hash,
        }
    }

    /// Its tables and reducers.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Brings `runtime` to this module: creates the tables it declares that the runtime has
    /// not, checks the others, and records this build in [`MODULES_TABLE`] when the runtime
    /// holds another (or none). Returns the LSN of that record, if one was written. Calls
    /// install the module themselves; this is for doing it ahead.
    ///
    /// # Errors
    /// `HostError::Runtime`: a declared table differs from the runtime's (`SchemaChanged`),
    /// or the log failed.
    pub fn install(&self, runtime: &Runtime) -> Result<Option<Lsn>, HostError> {
        runtime.ensure_table(&modules_schema())?;
        for table in &self.description.tables {
            runtime.ensure_table(table)?;
        }
        let hash = self.hash.to_vec();
        let row = Row::new()
            .with("name", self.name.as_str())
            .with("hash", hash.clone())
            .with("bytes", self.size as u64)
            .with("reducers", self.reducer_names());
        let committed =
            runtime.transact(|tx| match tx.get_row(MODULES_TABLE, self.name.as_str())? {
                Some(old) if old.get("hash") == Some(&Value::Bytes(hash)) => Ok(()),
                Some(_) => tx.update_row(MODULES_TABLE, row),
                None => tx.insert_row(MODULES_TABLE, row),
            })?;
        Ok(committed.lsn)
    }

    /// Calls reducer `reducer` with `args` on behalf of `caller`, as one transaction whose
    /// record holds the module's name and hash, the reducer, the arguments, the caller, the
    /// timestamp and the seed beside the changes. The arguments are converted to the
    /// parameters' types as rows' values are. Installs the module first when needed.
    ///
    /// # Errors
    /// `HostError::Call` (nothing written) when the module has no such reducer, the
    /// arguments do not fit, the reducer returns an error, traps, runs out of fuel or of
    /// memory; `HostError::Runtime` from installing or committing.
    pub fn call(
        &self,
        runtime: &Runtime,
        caller: Caller,
        reducer: &str,
        args: Vec<Value>,
        limits: &Limits,
    ) -> Result<CallOutcome, HostError> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        let failed = |failure| HostError::Call {
            module: self.name.clone(),
            reducer: reducer.to_owned(),
            failure,
        };
        let described = self
            .description
            .reducers
            .iter()
            .find(|r| r.name == reducer)
            .ok_or_else(|| failed(CallFailure::NoSuchReducer(self.reducer_names())))?;
        let args = conform(described, args).map_err(|e| failed(CallFailure::BadArguments(e)))?;
        if !self.installed.lock().contains(&runtime.instance()) {
            self.install(runtime)?;
        }
        let encoded = crate::runtime::codec::encode_values(&args);
        let info = runtime.call_info(
            Cow::Owned(reducer.to_owned()),
            args,
            caller,
            Some(self.module_ref()),
        );
        let mut report = (Vec::new(), 0);
        let committed = runtime.run_call(info, |ctx| {
            let ran = self.execute(ctx, reducer, &encoded, limits);
            report = (ran.logs, ran.fuel_used);
            ran.result
        });
        let (logs, fuel_used) = report;
        match committed {
            Ok(lsn) => Ok(CallOutcome {
                lsn,
                logs,
                fuel_used,
            }),
            Err(crate::runtime::Failure::Rejected(failure)) => Err(failed(failure)),
            Err(crate::runtime::Failure::Panicked(panic)) => {
                Err(failed(CallFailure::Trap(format!(
                    "the host panicked: {}",
                    crate::runtime::panic_message(&*panic)
                ))))
            }
            Err(crate::runtime::Failure::Runtime(error)) => Err(error.into()),
        }
    }

    /// The reducers' names, comma-separated.
    pub fn reducer_names(&self) -> String {
        let names: Vec<&str> = self
            .description
            .reducers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        names.join(", ")
    }

    /// Runs the reducer in a fresh instance over `ctx`.
    fn execute(
        &self,
        ctx: &mut crate::runtime::ReducerContext<'_>,
        reducer: &str,
        args: &[u8],
        limits: &Limits,
    ) -> Ran {
        let state = HostState {
            ctx,
            result: Vec::new(),
            last_error: None,
            failed: None,
            logs: Vec::new(),
            logs_kept: 0,
            logs_dropped: 0,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        let result = store
            .set_fuel(limits.fuel)
            .map_err(|e| CallFailure::Trap(e.to_string()))
            .and_then(|()| self.run(&mut store, reducer, args, limits));
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let state = store.into_data();
        let result = match result {
            Ok(0) => Ok(()),
            Ok(code) => Err(CallFailure::Refused(
                state
                    .failed
                    .or(state.last_error)
                    .unwrap_or_else(|| format!("returned {code}")),
            )),
            Err(failure) => Err(failure),
        };
        let mut logs = state.logs;
        if state.logs_dropped > 0 {
            logs.push(format!(
                "({} more bytes of messages dropped: a call keeps {} bytes)",
                state.logs_dropped,
                imports::LOG_BYTES_MAX
            ));
        }
        Ran {
            result,
            logs,
            fuel_used,
        }
    }

    /// Instantiates the module, writes the arguments, and calls `reducer.NAME`.
    fn run(
        &self,
        store: &mut Store<HostState<'_, '_>>,
        reducer: &str,
        args: &[u8],
        limits: &Limits,
    ) -> Result<i32, CallFailure> {
        let trapped = |error: wasmi::Error| match error.as_trap_code() {
            Some(TrapCode::OutOfFuel) => CallFailure::OutOfFuel(limits.fuel),
            Some(TrapCode::GrowthOperationLimited) => CallFailure::OutOfMemory(limits.memory_bytes),
            // A module whose initial memory is over the limit fails to instantiate.
            _ if matches!(
                error.kind(),
                ErrorKind::Memory(MemoryError::ResourceLimiterDeniedAllocation)
                    | ErrorKind::Instantiation(InstantiationError::FailedToInstantiateMemory(
                        MemoryError::ResourceLimiterDeniedAllocation
                    ))
            ) =>
            {
                CallFailure::OutOfMemory(limits.memory_bytes)
            }
            _ => CallFailure::Trap(error.to_string()),
        };
        INSTANCES.fetch_add(1, Ordering::Relaxed);
        let linker = imports::linker(&self.engine);
        let instance = linker
            .instantiate_and_start(&mut *store, &self.wasm)
            .map_err(trapped)?;
        let memory = instance
            .get_memory(&*store, "memory")
            .ok_or_else(|| CallFailure::Trap("no memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&*store, "alloc")
            .map_err(trapped)?;
        let len = i32::try_from(args.len())
            .map_err(|_| CallFailure::BadArguments("arguments larger than 2 GiB".into()))?;
        let ptr = alloc.call(&mut *store, len).map_err(trapped)?;
        let at = usize::try_from(ptr)
            .map_err(|_| CallFailure::Trap("alloc returned a negative pointer".into()))?;
        memory
            .write(&mut *store, at, args)
            .map_err(|e| CallFailure::Trap(format!("alloc returned {ptr}: {e}")))?;
        let func = instance
            .get_typed_func::<(i32, i32), i32>(
                &*store,
                &format!("{}{reducer}", describe::REDUCER_PREFIX),
            )
            .map_err(trapped)?;
        func.call(&mut *store, (ptr, len)).map_err(trapped)
    }
}

/// What running a reducer gave.
struct Ran {
    result: Result<(), CallFailure>,
    logs: Vec<String>,
    fuel_used: u64,
}

/// The table of installed modules.
fn modules_schema() -> Schema {
    Schema::new(MODULES_TABLE, 1)
        .column("name", ColumnType::Str)
        .column("hash", ColumnType::Bytes)
        .column("bytes", ColumnType::U64)
        .column("reducers", ColumnType::Str)
}

/// `args` converted to the reducer's parameters' types.
fn conform(reducer: &ModuleReducer, args: Vec<Value>) -> Result<Vec<Value>, String> {
    let params = reducer
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.ty, p.nullable));
    crate::runtime::conform_params(params, args)
}

/// The module's exports and imports are the ABI's: a memory, `alloc`, one `reducer.NAME`
/// per described reducer and no other, imports only of `interstice` functions.
fn check_abi(module: &wasmi::Module, description: &Description) -> Result<(), String> {
    let func = |params: &[ValType], results: &[ValType], ty: &ExternType| {
        ty.func()
            .is_some_and(|f| f.params() == params && f.results() == results)
    };
    let mut memory = false;
    let mut alloc = false;
    let mut exported = Vec::new();
    for export in module.exports() {
        match export.name() {
            "memory" => memory = export.ty().memory().is_some(),
            "alloc" => alloc = func(&[ValType::I32], &[ValType::I32], export.ty()),
            name => {
                if let Some(reducer) = name.strip_prefix(describe::REDUCER_PREFIX) {
                    if !func(&[ValType::I32, ValType::I32], &[ValType::I32], export.ty()) {
                        return Err(format!("export {name:?} is not (i32, i32) -> i32"));
                    }
                    exported.push(reducer.to_owned());
                }
            }
        }
    }
    if !memory {
        return Err("it exports no memory named \"memory\"".into());
    }
    if !alloc {
        return Err("it exports no function \"alloc\" of type (i32) -> i32".into());
    }
    for reducer in &description.reducers {
        if !exported.contains(&reducer.name) {
            return Err(format!(
                "reducer {} is described but not exported as \"reducer.{}\"",
                reducer.name, reducer.name
            ));
        }
    }
    if let Some(extra) = exported
        .iter()
        .find(|name| description.reducers.iter().all(|r| &r.name != *name))
    {
        return Err(format!(
            "export \"reducer.{extra}\" is not in the description"
        ));
    }
    for import in module.imports() {
        let known = imports::IMPORTS
            .iter()
            .find(|(name, _, _)| import.module() == "interstice" && *name == import.name());
        let fits = known.is_some_and(|(_, params, results)| {
            import
                .ty()
                .func()
                .is_some_and(|f| f.params().len() == *params && f.results().len() == *results)
        });
        if !fits {
            return Err(format!(
                "import {}.{} is not one the host provides (docs/WASM_ABI.md)",
                import.module(),
                import.name()
            ));
        }
    }
    Ok(())
}
