//! Reducers: named functions whose calls are the runtime's transactions. A call's record
//! holds the reducer's name, its encoded arguments, the caller, the timestamp and the random
//! seed beside the changes; replay applies the changes and never runs a reducer.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::error::Error;
use super::schema::ColumnType;
use super::txn::Tx;
use super::typed::Args;
use super::value::Value;

/// Who called a reducer: an id the application assigns (a user, a session, a peer).
/// [`Caller::LOCAL`] is the process itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Caller(pub u64);

impl Caller {
    /// The process itself (id 0): what [`Runtime::call`](super::Runtime::call) uses.
    pub const LOCAL: Caller = Caller(0);
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// When a reducer was called: microseconds since the Unix epoch, taken once per call and
/// logged, so a reducer that reads it sees the same value it saw when it ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time.
    #[must_use]
    pub fn now() -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        Timestamp(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// As a `SystemTime`.
    #[must_use]
    pub fn to_system_time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(self.0)
    }
}

/// A small deterministic random generator (`SplitMix64`), seeded from the call's record:
/// the same seed gives the same sequence, so a reducer's effect can be reproduced from its
/// log record. Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator starting from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a reducer sees: the tables (as the call's transaction, through `Deref` to [`Tx`]),
/// the caller, the timestamp and a random generator seeded from the call's record.
pub struct ReducerContext<'a> {
    /// The call's transaction.
    pub tx: Tx<'a>,
    /// Who called.
    pub caller: Caller,
    /// When (logged with the call).
    pub timestamp: Timestamp,
    /// Random numbers reproducible from the call's record.
    pub rng: Rng,
    /// The seed `rng` started from (logged with the call).
    pub seed: u64,
}

impl<'a> ReducerContext<'a> {
    pub(crate) fn new(tx: Tx<'a>, call: &CallInfo) -> ReducerContext<'a> {
        ReducerContext {
            tx,
            caller: call.caller,
            timestamp: call.timestamp,
            rng: Rng::new(call.seed),
            seed: call.seed,
        }
    }
}

impl<'a> Deref for ReducerContext<'a> {
    type Target = Tx<'a>;

    fn deref(&self) -> &Tx<'a> {
        &self.tx
    }
}

impl DerefMut for ReducerContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl fmt::Debug for ReducerContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReducerContext")
            .field("caller", &self.caller)
            .field("timestamp", &self.timestamp)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// A reducer: made by `#[reducer]` from a function
/// `fn name(ctx: &mut ReducerContext, args...) -> Result<(), E>` with `E: Display`. The
/// attribute turns the function into a unit struct of the same name that implements this
/// trait, so `runtime.call(name, (args...))` is checked by the compiler.
pub trait Reducer: Send + Sync + 'static {
    /// The arguments, as a tuple of [`Field`](super::Field)s.
    type Args: Args;
    /// The error it returns (the transaction rolls back).
    type Error: fmt::Display;
    /// The name logged with each call, and used to call it by name.
    const NAME: &'static str;
    /// The parameters' names, in order.
    const PARAMS: &'static [&'static str];

    /// Runs the reducer.
    ///
    /// # Errors
    /// The reducer's own error; its changes are dropped.
    fn run(ctx: &mut ReducerContext<'_>, args: Self::Args) -> Result<(), Self::Error>;
}

/// What a reducer call's record holds besides its changes: which reducer, its arguments,
/// who called it, when, and the seed of its random generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    /// The reducer's name (borrowed from the reducer when it made the call; no copy per
    /// call).
    pub reducer: std::borrow::Cow<'static, str>,
    /// Its arguments, in order.
    pub args: Vec<Value>,
    /// Who called it.
    pub caller: Caller,
    /// When.
    pub timestamp: Timestamp,
    /// The seed of the call's [`Rng`].
    pub seed: u64,
    /// The WASM module whose reducer this is, for a hosted call.
    pub module: Option<ModuleRef>,
}

/// A WASM module, as a hosted call's record names it: its name and the hash of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRef {
    /// The module's name.
    pub name: String,
    /// XXH3-128 of the module's bytes: which build of it ran.
    pub hash: [u8; 16],
}

impl ModuleRef {
    /// The hash in hex.
    #[must_use]
    pub fn hash_hex(&self) -> String {
        super::codec::hex(&self.hash)
    }
}

impl fmt::Display for CallInfo {
    /// `transfer(1, 2, 10) by caller 7`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.reducer)?;
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{arg}")?;
        }
        write!(f, ") by caller {}", self.caller)?;
        if let Some(module) = &self.module {
            write!(f, " in module {} {}", module.name, &module.hash_hex()[..16])?;
        }
        Ok(())
    }
}

/// One parameter of a registered reducer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// The type of its value.
    pub ty: ColumnType,
    /// Whether it may be `Null`.
    pub nullable: bool,
}

/// How a call of a reducer ended badly.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The reducer returned an error; nothing was written.
    #[error("reducer {reducer} failed: {error}")]
    Failed {
        /// The reducer.
        reducer: &'static str,
        /// Its error.
        error: E,
    },
    /// The reducer panicked; nothing was written.
    #[error("reducer {reducer} panicked: {message}")]
    Panicked {
        /// The reducer.
        reducer: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The runtime failed (appending, a full disk...).
    #[error(transparent)]
    Runtime(#[from] Error),
}

/// Why a reducer called by name did not commit.
pub(crate) enum Rejected {
    /// Its arguments do not fit its parameters.
    Args(String),
    /// It returned this error.
    Failed(String),
}

/// A registered reducer, without its types: runs from values.
pub(crate) type Erased =
    Arc<dyn Fn(&mut ReducerContext<'_>, Vec<Value>) -> Result<(), Rejected> + Send + Sync>;

/// A registered reducer: its parameters and how to run it from values.
#[derive(Clone)]
pub(crate) struct Registered {
    pub params: Vec<Param>,
    pub run: Erased,
}

/// The reducers a runtime can call by name.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    pub by_name: BTreeMap<&'static str, Registered>,
}

impl Registry {
    pub fn register<R: Reducer>(&mut self) {
        let params = R::PARAMS
            .iter()
            .zip(R::Args::types())
            .map(|(&name, (ty, nullable))| Param { name, ty, nullable })
            .collect();
        let run: Erased = Arc::new(|ctx, values| {
            let args = R::Args::from_values(values).map_err(Rejected::Args)?;
            R::run(ctx, args).map_err(|e| Rejected::Failed(e.to_string()))
        });
        self.by_name.insert(R::NAME, Registered { params, run });
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

/// `args` converted to `params`' types, as rows' values are.
///
/// # Errors
/// `Error::BadArguments`: the count, or an argument that cannot be its parameter's type.
pub(crate) fn conform_args(
    reducer: &str,
    params: &[Param],
    args: Vec<Value>,
) -> Result<Vec<Value>, Error> {
    let params = params.iter().map(|p| (p.name, p.ty, p.nullable));
    conform_params(params, args).map_err(|reason| Error::BadArguments {
        reducer: reducer.to_owned(),
        reason,
    })
}

/// `args` converted to the types of `params` (name, type, nullable), as rows' values are:
/// the call by name of a registered reducer's, and of a module's.
///
/// # Errors
/// What is wrong: the count, or the argument, naming its parameter.
pub(crate) fn conform_params<'p>(
    params: impl ExactSizeIterator<Item = (&'p str, ColumnType, bool)> + Clone,
    args: Vec<Value>,
) -> Result<Vec<Value>, String> {
    if args.len() != params.len() {
        let names: Vec<&str> = params.clone().map(|(name, _, _)| name).collect();
        return Err(format!(
            "{} arguments for {} parameters ({})",
            args.len(),
            params.len(),
            names.join(", ")
        ));
    }
    params
        .zip(args)
        .map(|((name, ty, nullable), arg)| {
            if arg.is_null() {
                return if nullable {
                    Ok(arg)
                } else {
                    Err(format!("{name} needs a value"))
                };
            }
            ty.conform(arg)
                .map_err(|arg| format!("{name}: expected {ty}, got {}", arg.kind_name()))
        })
        .collect()
}

/// The message of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
        for _ in 0..1000 {
            assert!(a.below(10) < 10);
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
