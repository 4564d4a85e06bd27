//! The macros of interstice's typed runtime (`#[derive(Table)]`, `#[derive(Field)]`,
//! `#[reducer]`); use them through `interstice::runtime`, which re-exports them.

mod field;
mod names;
mod reducer;
mod table;
mod types;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `Table` for a struct with named fields: a row of a table whose columns are the
/// fields, in order. Each column is named after its field (`r#type` makes the column `type`)
/// and has the type and nullability the field's `Field` implementation gives: integers,
/// `bool`, `f32`, `f64`, `String`, `Vec<u8>`, a `#[derive(Field)]` enum, or your own `Field`
/// type; `Option<T>` makes the column nullable.
///
/// ```
/// use interstice::runtime::{ColumnType, Table};
///
/// #[derive(Table, Clone, Debug, PartialEq)]
/// #[table(name = "accounts", version = 2)]
/// pub struct Account {
///     #[primary_key]
///     #[auto_inc]
///     pub id: u64,
///     #[unique]
///     pub owner: String,
///     #[index]
///     pub team: u32,
///     #[default(0)]
///     pub balance: i64,
///     pub email: Option<String>,
/// }
///
/// let schema = Account::schema();
/// assert_eq!((schema.name(), schema.version()), ("accounts", 2));
/// assert_eq!(schema.key_name(), "id");
/// assert!(schema.is_auto_inc());
/// assert_eq!(schema.columns()[4].ty, ColumnType::Str);
/// assert!(schema.columns()[4].nullable);
/// assert_eq!(Account::OWNER.name(), "owner");
///
/// let ann = Account { id: 1, owner: "ann".into(), team: 3, balance: 10, email: None };
/// assert_eq!(ann.key(), 1);
/// assert_eq!(Account::from_values(ann.clone().into_values())?, ann);
/// # Ok::<(), interstice::runtime::Error>(())
/// ```
///
/// # Attributes
///
/// On the struct, `#[table(name = "accounts", version = 2)]`, both optional: the name
/// defaults to the struct's name in snake case (`UserProfile` makes `user_profile`), the
/// version to 1. A new version, with a migration when needed, is what changes the columns or
/// the key of a table that has rows (see the migration guide).
///
/// On fields:
///
/// - `#[primary_key]`: the key; one field at most, by default the first. It cannot be an
///   `Option` (a key is never null), and its type must be `Clone`, as `key()` clones it.
/// - `#[auto_inc]`: on the key, whose type must then be a Rust integer type (`u8` to `u64`,
///   `usize`, `i8` to `i64`, `isize`): the runtime assigns a new key to a row inserted with
///   key 0.
/// - `#[unique]`: no two rows hold the same value in the column (nulls excepted); the column
///   is indexed too.
/// - `#[index]`: a secondary index, for lookups by the column.
/// - `#[default(expr)]`: the value that rows written before the column existed take when a
///   new version of the table adds it. `expr` has the field's type: `#[default(0)]`,
///   `#[default(String::new())]`, `#[default(Some(3))]`. The name is shared with the helper
///   attribute of `derive(Default)`, which refuses it on a field: a struct with a
///   `#[default(..)]` field cannot also derive `Default` (implement it by hand).
///
/// # Generated items
///
/// For `struct Account` above:
///
/// - `impl Table for Account`, with `NAME` and `VERSION`; `Key`, the key field's type;
///   `schema()`, the columns in field order, the key named explicitly, then auto-increment,
///   indexes, unique columns and defaults; `into_values()` and `from_values()`, the row as
///   values in column order and back (an error names the table and the column); `key()`.
/// - A column handle per field for typed lookups, `Account::ID`, `Account::OWNER`..., of
///   type `Col<Account, FieldType>`, named after the field in upper snake case, with the
///   struct's visibility.
///
/// The handles are inherent constants, which a path like `Account::NAME` finds before the
/// trait's: a field named `name` or `version` makes `Account::NAME` or `Account::VERSION` the
/// column's handle, and `<Account as Table>::NAME` is then the way to the table's name.
///
/// # Compile errors
///
/// The derive refuses, pointing at the culprit: enums, unions, tuple and unit structs;
/// a struct without fields; generic structs; two `#[primary_key]`s; an `Option` key;
/// `#[auto_inc]` on another field than the key, or on a key that is not an integer;
/// `#[unique]` or `#[index]` on the key (it is both already); unknown keys in `#[table(..)]`
/// and repeated attributes. A field type that is not a `Field` fails with
/// "the trait bound `T: Field` is not satisfied" at that field.
#[proc_macro_derive(
    Table,
    attributes(table, primary_key, auto_inc, unique, index, default)
)]
pub fn derive_table(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    table::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `Field` for an enum whose variants have no fields: the column is a string
/// (`ColumnType::Str`) holding the variant's name.
///
/// ```
/// use interstice::runtime::{ColumnType, Field, Value};
///
/// #[derive(Field, Clone, Copy, Debug, PartialEq, Eq)]
/// enum Team {
///     Red,
///     Blue,
/// }
///
/// assert_eq!(Team::TYPE, ColumnType::Str);
/// assert_eq!(Team::Blue.to_value(), Value::Str("Blue".into()));
/// assert_eq!(Team::from_value(Value::Str("Red".into())), Ok(Team::Red));
/// assert_eq!(
///     Team::from_value(Value::Str("Green".into())),
///     Err("\"Green\" is not a variant of Team".into()),
/// );
/// assert!(Team::from_value(Value::U64(1)).is_err());
/// ```
///
/// The derive implements `Field` and nothing else. A field of a table needs no more; a
/// primary key must also be `Clone`, and comparing rows in tests wants `Debug` and
/// `PartialEq`: derive those yourself. Renaming a variant changes what is stored, so rows
/// written before hold the old name, which no longer reads back.
///
/// # Compile errors
///
/// Structs, unions, generic enums, enums without variants and enums whose variants have
/// fields are refused; implement `Field` by hand for those.
#[proc_macro_derive(Field)]
pub fn derive_field(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    field::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a reducer of a function: a named transaction whose calls are logged with their
/// arguments. The function takes the call's context first, then its arguments (owned
/// `Field` types), and returns `Result<(), E>` with `E: Display`; an error rolls the
/// transaction back.
///
/// ```
/// use interstice::runtime::{Reducer, ReducerContext, reducer};
///
/// /// Moves `amount` from one account to another.
/// #[reducer]
/// pub fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64)
///     -> Result<(), String> {
///     if from == to {
///         return Err(format!("account {from} pays itself"));
///     }
///     let _ = (ctx.caller, amount); // the tables are `ctx.tx`, and `ctx` derefs to it
///     Ok(())
/// }
///
/// #[reducer(name = "close_account")]
/// fn close(_ctx: &mut ReducerContext<'_>, mut id: u64) -> Result<(), std::fmt::Error> {
///     id += 1;
///     let _ = id;
///     Ok(())
/// }
///
/// assert_eq!(transfer::NAME, "transfer");
/// assert_eq!(transfer::PARAMS, ["from", "to", "amount"]);
/// let _: <transfer as Reducer>::Args = (1u64, 2u64, 30i64);
/// assert_eq!(close::NAME, "close_account");
/// let _: <close as Reducer>::Args = (7u64,);
/// ```
///
/// The function becomes a unit struct of the same name (`transfer`) implementing `Reducer`,
/// which is what the runtime takes: `runtime.call(transfer, (from, to, amount))` is checked
/// by the compiler, and `RuntimeConfig::reducer(transfer)` registers it for calls by name.
/// For the function above:
///
/// ```text
/// #[doc = " Moves `amount` from one account to another."]
/// #[allow(non_camel_case_types)]
/// #[derive(Clone, Copy, Debug, Default)]
/// pub struct transfer;
///
/// impl ::interstice::runtime::Reducer for transfer {
///     type Args = (u64, u64, i64);
///     type Error = String;
///     const NAME: &'static str = "transfer";
///     const PARAMS: &'static [&'static str] = &["from", "to", "amount"];
///
///     fn run(
///         ctx: &mut ReducerContext, // the function's first parameter, as written
///         args: <Self as ::interstice::runtime::Reducer>::Args,
///     ) -> ::core::result::Result<(), String> {
///         let (from, to, amount,) = args;
///         { /* the function's body */ }
///     }
/// }
/// ```
///
/// The function's documentation, `#[cfg]`, `#[cfg_attr]` and `#[deprecated]` attributes go
/// on the struct (a `#[cfg]` on the impl too); its other attributes (lints, `#[inline]`,
/// instrumentation) on `run`, which holds the body.
///
/// # Arguments
///
/// `#[reducer(name = "other_name")]` logs the reducer under another name than the
/// function's; renaming a reducer that has been called needs it, as the log holds the name.
///
/// # Compile errors
///
/// The signature is checked, and what is wrong pointed at: a first parameter that is not
/// `&mut ReducerContext` (by any path, with `'_` or no lifetime); `self`; a parameter that is
/// a pattern instead of a name (`mut x` is fine), a reference, an `impl Trait`, or has
/// attributes; generics; `async`, `const`, `unsafe`, `extern` and variadic functions; a
/// return type that is not `Result<(), E>` (by any path ending in `Result`). An error type
/// that is not `Display`, or an argument type that is not a `Field`, fails at that type.
#[proc_macro_attribute]
pub fn reducer(args: TokenStream, item: TokenStream) -> TokenStream {
    reducer::expand(args.into(), item.into()).into()
}

/// Compile errors, gathered so that one expansion reports every mistake it finds.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// The errors gathered, then `error`.
    fn with(self, error: syn::Error) -> syn::Error {
        match self.0 {
            Some(mut errors) => {
                errors.combine(error);
                errors
            }
            None => error,
        }
    }
}
