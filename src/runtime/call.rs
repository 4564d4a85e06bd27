//! Calling reducers: typed, on behalf of a caller, and by name with values.

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use super::error::{Error, Result};
use super::reducer::{
    self, CallError, CallInfo, Caller, ModuleRef, Reducer, ReducerContext, Rng, Timestamp,
};
use super::txn::Tx;
use super::typed::Args;
use super::value::Value;
use super::{Failure, Runtime};
use crate::Lsn;

impl Runtime {
    /// Calls reducer `R` as [`Caller::LOCAL`]: one transaction whose record holds the
    /// reducer's name, its arguments, the caller, the timestamp and the random seed beside
    /// the changes. Every successful call is logged, even one that changes nothing; replay
    /// applies the changes and never runs the reducer. Returns the record's LSN (durable
    /// when it returns under `Durability::EveryAppend`).
    ///
    /// # Errors
    /// `CallError::Failed` with the reducer's error, `CallError::Panicked`: nothing is
    /// written. `CallError::Runtime` when appending or flushing fails.
    pub fn call<R: Reducer>(&self, reducer: R, args: R::Args) -> Result<Lsn, CallError<R::Error>> {
        self.call_as(Caller::LOCAL, reducer, args)
    }

    /// As [`Runtime::call`], on behalf of `caller`.
    ///
    /// # Errors
    /// As [`Runtime::call`].
    pub fn call_as<R: Reducer>(
        &self,
        caller: Caller,
        _reducer: R,
        args: R::Args,
    ) -> Result<Lsn, CallError<R::Error>> {
        let info = self.call_info(R::NAME.into(), args.to_values(), caller, None);
        match self.run_call(info, |ctx| R::run(ctx, args)) {
            Ok(lsn) => Ok(lsn),
            Err(Failure::Rejected(error)) => Err(CallError::Failed {
                reducer: R::NAME,
                error,
            }),
            Err(Failure::Panicked(panic)) => Err(CallError::Panicked {
                reducer: R::NAME,
                message: reducer::panic_message(&*panic),
            }),
            Err(Failure::Runtime(error)) => Err(CallError::Runtime(error)),
        }
    }

    /// Calls the registered reducer `name` with `args` on behalf of `caller`: the call
    /// made by tools and module hosts, which know the reducer by name only. Arguments are
    /// converted to the parameters' types as rows' values are (`1i64` fills a `u64`).
    ///
    /// # Errors
    /// `Error::NoSuchReducer`, `Error::BadArguments`, `Error::ReducerFailed` (its error or
    /// panic; nothing is written), `Error::Log`.
    pub fn call_by_name(&self, caller: Caller, name: &str, args: Vec<Value>) -> Result<Lsn> {
        let (&name, registered) =
            self.reducers
                .by_name
                .get_key_value(name)
                .ok_or_else(|| Error::NoSuchReducer {
                    reducer: name.to_owned(),
                })?;
        let args = reducer::conform_args(name, &registered.params, args)?;
        let info = self.call_info(name.into(), args.clone(), caller, None);
        let failed = |message| Error::ReducerFailed {
            reducer: name.to_owned(),
            message,
        };
        match self.run_call(info, |ctx| (registered.run)(ctx, args)) {
            Ok(lsn) => Ok(lsn),
            Err(Failure::Rejected(reducer::Rejected::Args(reason))) => Err(Error::BadArguments {
                reducer: name.to_owned(),
                reason,
            }),
            Err(Failure::Rejected(reducer::Rejected::Failed(message))) => Err(failed(message)),
            Err(Failure::Panicked(panic)) => Err(failed(reducer::panic_message(&*panic))),
            Err(Failure::Runtime(error)) => Err(error),
        }
    }

    /// The reducers registered for calls by name, with their parameters, by name.
    pub fn reducers(&self) -> Vec<(&'static str, Vec<reducer::Param>)> {
        self.reducers
            .by_name
            .iter()
            .map(|(name, r)| (*name, r.params.clone()))
            .collect()
    }

    /// A call's header: its timestamp now, and the next seed.
    pub(crate) fn call_info(
        &self,
        reducer: Cow<'static, str>,
        args: Vec<Value>,
        caller: Caller,
        module: Option<ModuleRef>,
    ) -> CallInfo {
        CallInfo {
            reducer,
            args,
            caller,
            timestamp: Timestamp::now(),
            seed: Rng::new(self.seeds.fetch_add(1, Ordering::Relaxed)).next_u64(),
            module,
        }
    }

    /// Runs `run` as the call `info` describes: one transaction whose record holds the call
    /// and its changes, logged even when it changes nothing. Its error, or its panic (caught),
    /// leaves tables and log untouched.
    pub(crate) fn run_call<X>(
        &self,
        info: CallInfo,
        run: impl FnOnce(&mut ReducerContext<'_>) -> std::result::Result<(), X>,
    ) -> std::result::Result<Lsn, Failure<X>> {
        let mut info = info;
        let ((), lsn) = self.commit(|tables| {
            // Taken under the tables' lock, and never below the last call's: calls'
            // timestamps follow their LSNs while the runtime runs, whatever the clock does.
            let now = Timestamp::now()
                .0
                .max(self.last_call.load(Ordering::Relaxed));
            self.last_call.store(now, Ordering::Relaxed);
            info.timestamp = Timestamp(now);
            panic::catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = ReducerContext::new(Tx::new(tables), &info);
                run(&mut ctx)?;
                Ok(((), ctx.tx.into_changes(), Some(info)))
            }))
        })?;
        Ok(lsn.expect("a call is always logged"))
    }
}
