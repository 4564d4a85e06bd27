//! The derive macros' output, through the traits alone (no runtime): schemas, row
//! conversions, column handles, field enums and reducers' descriptions.

use interstice::runtime::{
    Args, Col, ColumnType, Error, Field, Reducer, ReducerContext, Table, Value, reducer,
};

#[derive(Field, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Team {
    Red,
    Blue,
    r#Green,
}

/// Every supported field type once.
#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "everything", version = 3)]
struct Everything {
    a_u8: u8,
    a_u16: u16,
    #[index]
    a_u32: u32,
    #[primary_key]
    #[auto_inc]
    id: u64,
    a_usize: usize,
    a_i8: i8,
    a_i16: i16,
    a_i32: i32,
    #[default(-1)]
    a_i64: i64,
    a_isize: isize,
    #[default(true)]
    flag: bool,
    a_f32: f32,
    a_f64: f64,
    #[unique]
    name: String,
    bytes: Vec<u8>,
    #[default(Some(3))]
    maybe: Option<u64>,
    #[index]
    note: Option<String>,
    team: Team,
    r#type: String,
}

fn everything() -> Everything {
    Everything {
        a_u8: u8::MAX,
        a_u16: 2,
        a_u32: 3,
        id: 4,
        a_usize: 5,
        a_i8: i8::MIN,
        a_i16: -2,
        a_i32: -3,
        a_i64: i64::MIN,
        a_isize: -5,
        flag: true,
        a_f32: 1.5,
        a_f64: -0.25,
        name: "ann".into(),
        bytes: vec![0, 1, 255],
        maybe: Some(7),
        note: None,
        team: Team::Green,
        r#type: "checking".into(),
    }
}

#[test]
fn the_schema_follows_the_fields() {
    use ColumnType::{Bool, Bytes, F64, I64, Str, U64};
    let schema = Everything::schema();
    // The column `name` makes the inherent `Everything::NAME`, which the trait's yields to.
    assert_eq!(<Everything as Table>::NAME, "everything");
    assert_eq!(Everything::VERSION, 3);
    assert_eq!((schema.name(), schema.version()), ("everything", 3));
    let columns: Vec<(&str, ColumnType, bool)> = schema
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("a_u8", U64, false),
            ("a_u16", U64, false),
            ("a_u32", U64, false),
            ("id", U64, false),
            ("a_usize", U64, false),
            ("a_i8", I64, false),
            ("a_i16", I64, false),
            ("a_i32", I64, false),
            ("a_i64", I64, false),
            ("a_isize", I64, false),
            ("flag", Bool, false),
            ("a_f32", F64, false),
            ("a_f64", F64, false),
            ("name", Str, false),
            ("bytes", Bytes, false),
            ("maybe", U64, true),
            ("note", Str, true),
            ("team", Str, false),
            ("type", Str, false),
        ]
    );
    // Not the first non-null column: the one marked.
    assert_eq!(schema.key_name(), "id");
    assert!(schema.is_auto_inc());
    assert_eq!(schema.indexes(), ["a_u32", "name", "note"]);
    assert_eq!(schema.unique_columns(), ["name"]);
    assert_eq!(schema.default_of("a_i64"), Some(&Value::I64(-1)));
    assert_eq!(schema.default_of("flag"), Some(&Value::Bool(true)));
    assert_eq!(schema.default_of("maybe"), Some(&Value::U64(3)));
    assert_eq!(schema.default_of("name"), None);
    schema.validate().unwrap();
}

#[test]
fn rows_round_trip_through_values() {
    let row = everything();
    let values = row.clone().into_values();
    assert_eq!(values.len(), 19);
    assert_eq!(values[0], Value::U64(255));
    assert_eq!(values[5], Value::I64(-128));
    assert_eq!(values[16], Value::Null);
    assert_eq!(values[17], Value::Str("Green".into()));
    assert_eq!(values[18], Value::Str("checking".into()));
    assert_eq!(Everything::from_values(values).unwrap(), row);
    assert_eq!(row.key(), 4);
}

#[test]
fn conversion_errors_name_the_table_and_column() {
    let mut values = everything().into_values();
    values[0] = Value::U64(256);
    let Err(Error::Conversion {
        table,
        column,
        reason,
    }) = Everything::from_values(values)
    else {
        panic!("a u8 column holding 256 converted");
    };
    assert_eq!((table.as_str(), column.as_str()), ("everything", "a_u8"));
    assert_eq!(reason, "256 does not fit in u8");

    let mut values = everything().into_values();
    values[17] = Value::Str("Purple".into());
    let error = Everything::from_values(values).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("team"), "{text}");
    assert!(
        text.contains("\"Purple\" is not a variant of Team"),
        "{text}"
    );

    let mut values = everything().into_values();
    values.pop();
    let Err(Error::Conversion { table, reason, .. }) = Everything::from_values(values) else {
        panic!("a row one value short converted");
    };
    assert_eq!(table, "everything");
    assert_eq!(reason, "18 values for 19 columns");
}

#[test]
fn column_constants_are_named_after_the_fields() {
    let name: Col<Everything, String> = Everything::NAME;
    assert_eq!(name.name(), "name");
    assert_eq!(Everything::ID.name(), "id");
    assert_eq!(Everything::A_U8.name(), "a_u8");
    let team: Col<Everything, Team> = Everything::TEAM;
    assert_eq!(team.name(), "team");
    assert_eq!(Everything::TYPE.name(), "type");
    assert_eq!(format!("{:?}", Everything::NOTE), "Col(note)");
}

#[test]
fn field_enums_store_the_variant_name() {
    assert_eq!(Team::TYPE, ColumnType::Str);
    const { assert!(!Team::NULLABLE) };
    assert_eq!(Team::Red.to_value(), Value::Str("Red".into()));
    assert_eq!(Team::Blue.into_value(), Value::Str("Blue".into()));
    assert_eq!(
        Team::from_value(Value::Str("Green".into())),
        Ok(Team::Green)
    );
    assert_eq!(
        Team::from_value(Value::Str("red".into())),
        Err("\"red\" is not a variant of Team".into())
    );
    let error = Team::from_value(Value::U64(1)).unwrap_err();
    assert!(error.contains("Team"), "{error}");
    assert_eq!(Option::<Team>::from_value(Value::Null), Ok(None));
}

/// The default name, the first field as the key, a field enum as the key.
#[derive(Table, Clone, Debug, PartialEq)]
pub struct UserProfile {
    pub team: Team,
    pub bio: Option<String>,
}

#[derive(Table, Clone, Debug, PartialEq)]
#[table(version = 2)]
struct HTTPServer {
    host: String,
}

#[test]
fn defaults_name_and_key() {
    assert_eq!(UserProfile::NAME, "user_profile");
    assert_eq!(UserProfile::VERSION, 1);
    let schema = UserProfile::schema();
    assert_eq!(schema.key_name(), "team");
    assert!(!schema.is_auto_inc());
    assert!(schema.indexes().is_empty());
    schema.validate().unwrap();
    let row = UserProfile {
        team: Team::Blue,
        bio: Some("hi".into()),
    };
    assert_eq!(row.key(), Team::Blue);
    assert_eq!(
        UserProfile::from_values(row.clone().into_values()).unwrap(),
        row
    );
    assert_eq!(HTTPServer::NAME, "http_server");
    assert_eq!(HTTPServer::VERSION, 2);
    assert_eq!(HTTPServer::schema().key_name(), "host");
}

/// A nullable column first: the key is still the first field only when marked so.
#[derive(Table)]
struct LateKey {
    note: Option<String>,
    #[primary_key]
    id: i32,
}

#[test]
fn the_key_is_always_named() {
    let schema = LateKey::schema();
    assert_eq!(schema.key_name(), "id");
    assert_eq!(schema.key_position(), 1);
    let row = LateKey { note: None, id: -3 };
    assert_eq!(row.note, None);
    assert_eq!(row.key(), -3);
}

/// Moves `amount` between two accounts.
#[reducer]
fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), String> {
    if from == to {
        return Err(format!("{} pays itself", ctx.caller));
    }
    let _ = amount;
    Ok(())
}

#[reducer(name = "touch")]
pub fn poke(
    _ctx: &mut interstice::runtime::ReducerContext<'_>,
    mut note: Option<String>,
) -> std::result::Result<(), std::fmt::Error> {
    note.take();
    Ok(())
}

#[reducer]
fn tick(_: &mut ReducerContext) -> Result<(), String> {
    Ok(())
}

fn args_of<R: Reducer>(_: R) -> Vec<(ColumnType, bool)> {
    R::Args::types()
}

#[test]
fn reducers_describe_themselves() {
    assert_eq!(transfer::NAME, "transfer");
    assert_eq!(transfer::PARAMS, ["from", "to", "amount"]);
    let args: <transfer as Reducer>::Args = (1, 2, -3);
    assert_eq!(
        args.to_values(),
        [Value::U64(1), Value::U64(2), Value::I64(-3)]
    );
    assert_eq!(
        args_of(transfer),
        [
            (ColumnType::U64, false),
            (ColumnType::U64, false),
            (ColumnType::I64, false)
        ]
    );
    let _: <transfer as Reducer>::Error = String::new();

    assert_eq!(poke::NAME, "touch");
    assert_eq!(poke::PARAMS, ["note"]);
    assert_eq!(args_of(poke), [(ColumnType::Str, true)]);
    let _: <poke as Reducer>::Args = (Some(String::new()),);

    assert_eq!(tick::NAME, "tick");
    assert!(tick::PARAMS.is_empty());
    assert!(args_of(tick).is_empty());
    let _: <tick as Reducer>::Args = ();
    assert_eq!(format!("{tick:?}"), "tick");
}
