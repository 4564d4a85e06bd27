//! A module's description (custom section `interstice`, JSON): its tables and its reducers'
//! parameters, checked against its exports and imports when it is loaded.

use serde::Deserialize;

use crate::runtime::{ColumnType, Schema, Value};

/// The name of the custom section holding the description.
pub const SECTION: &str = "interstice";
/// The prefix of a reducer's export: `reducer.NAME`.
pub const REDUCER_PREFIX: &str = "reducer.";

/// What the section says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    tables: Vec<RawTable>,
    #[serde(default)]
    reducers: Vec<RawReducer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    #[serde(default = "first_version")]
    version: u32,
    #[serde(default)]
    key: Option<String>,
    columns: Vec<RawColumn>,
    #[serde(default)]
    indexes: Vec<String>,
    #[serde(default)]
    unique: Vec<String>,
}

fn first_version() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    nullable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReducer {
    name: String,
    #[serde(default)]
    params: Vec<RawColumn>,
}

/// One parameter of a module's reducer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleParam {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it may be `Null`.
    pub nullable: bool,
}

/// A module's reducer: its name and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleReducer {
    /// Its name (exported as `reducer.NAME`).
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<ModuleParam>,
}

impl ModuleReducer {
    /// Arguments from a JSON array, one element per parameter, by the parameter's type:
    /// numbers for `u64`, `i64` and `f64`, `true`/`false`, strings for `str`, hex strings
    /// for `bytes`, `null` for a nullable parameter. What a tool passes to a call.
    ///
    /// # Errors
    /// What is wrong, naming the parameter.
    pub fn args_from_json(&self, json: &str) -> Result<Vec<Value>, String> {
        let parsed: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("arguments are not JSON: {e}"))?;
        let serde_json::Value::Array(items) = parsed else {
            return Err("arguments must be a JSON array".into());
        };
        if items.len() != self.params.len() {
            let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "{} arguments for {} parameters ({})",
                items.len(),
                self.params.len(),
                names.join(", ")
            ));
        }
        self.params
            .iter()
            .zip(items)
            .map(|(param, item)| {
                json_value(param.ty, &item)
                    .ok_or_else(|| format!("{}: {item} is not a {}", param.name, param.ty))
            })
            .collect()
    }
}

/// `item` as a value of type `ty` (`null` as `Null`, left to the call to refuse).
fn json_value(ty: ColumnType, item: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as Json;
    Some(match (ty, item) {
        (_, Json::Null) => Value::Null,
        (ColumnType::U64, Json::Number(n)) => Value::U64(n.as_u64()?),
        (ColumnType::I64, Json::Number(n)) => Value::I64(n.as_i64()?),
        (ColumnType::F64, Json::Number(n)) => Value::F64(n.as_f64()?),
        (ColumnType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (ColumnType::Str, Json::String(s)) => Value::Str(s.clone()),
        (ColumnType::Bytes, Json::String(hex)) => Value::Bytes(from_hex(hex)?),
        _ => return None,
    })
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A module's tables and reducers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The tables it uses, created when it is installed.
    pub tables: Vec<Schema>,
    /// Its reducers, by name.
    pub reducers: Vec<ModuleReducer>,
}

fn column_type(name: &str, ty: &str) -> Result<ColumnType, String> {
    Ok(match ty {
        "bool" => ColumnType::Bool,
        "i64" => ColumnType::I64,
        "u64" => ColumnType::U64,
        "f64" => ColumnType::F64,
        "str" => ColumnType::Str,
        "bytes" => ColumnType::Bytes,
        other => {
            return Err(format!(
                "{name}: type {other:?} is none of bool, i64, u64, f64, str, bytes"
            ));
        }
    })
}

/// Parses and checks the description's JSON.
///
/// # Errors
/// What is wrong, naming the table, column or reducer.
pub fn parse(json: &[u8]) -> Result<Description, String> {
    let raw: Raw = serde_json::from_slice(json).map_err(|e| format!("section {SECTION}: {e}"))?;
    let mut tables = Vec::new();
    for table in raw.tables {
        let mut schema = Schema::new(&table.name, table.version);
        for column in &table.columns {
            let ty = column_type(
                &format!("table {}, column {}", table.name, column.name),
                &column.ty,
            )?;
            schema = if column.nullable {
                schema.nullable_column(&column.name, ty)
            } else {
                schema.column(&column.name, ty)
            };
        }
        if let Some(key) = &table.key {
            schema = schema.primary_key(key);
        }
        for index in table.indexes {
            schema = schema.index(index);
        }
        for unique in table.unique {
            schema = schema.unique(unique);
        }
        schema.validate().map_err(|e| e.to_string())?;
        tables.push(schema);
    }
    let mut reducers: Vec<ModuleReducer> = Vec::new();
    for reducer in raw.reducers {
        if reducers.iter().any(|r| r.name == reducer.name) {
            return Err(format!("reducer {} is described twice", reducer.name));
        }
        let params = reducer
            .params
            .into_iter()
            .map(|p| {
                let ty = column_type(
                    &format!("reducer {}, parameter {}", reducer.name, p.name),
                    &p.ty,
                )?;
                Ok(ModuleParam {
                    name: p.name,
                    ty,
                    nullable: p.nullable,
                })
            })
            .collect::<Result<_, String>>()?;
        reducers.push(ModuleReducer {
            name: reducer.name,
            params,
        });
    }
    Ok(Description { tables, reducers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_parses_into_schemas_and_reducers() {
        let description = parse(
            br#"{"tables": [{"name": "t", "key": "id", "columns": [
                    {"name": "n", "type": "str", "nullable": true},
                    {"name": "id", "type": "u64"}], "unique": ["n"]}],
                 "reducers": [{"name": "r", "params": [{"name": "x", "type": "i64"}]}]}"#,
        )
        .unwrap();
        let table = &description.tables[0];
        assert_eq!(
            (table.name(), table.version(), table.key_name()),
            ("t", 1, "id")
        );
        assert_eq!(table.unique_columns(), ["n"]);
        assert_eq!(description.reducers[0].params[0].ty, ColumnType::I64);
    }

    #[test]
    fn json_arguments_follow_the_parameters_types() {
        let description = parse(
            br#"{"reducers": [{"name": "r", "params": [{"name": "a", "type": "u64"},
                {"name": "b", "type": "i64"}, {"name": "c", "type": "bytes"},
                {"name": "d", "type": "str", "nullable": true}]}]}"#,
        )
        .unwrap();
        let reducer = &description.reducers[0];
        assert_eq!(
            reducer.args_from_json(r#"[1, -2, "ab01", null]"#).unwrap(),
            [
                Value::U64(1),
                Value::I64(-2),
                Value::Bytes(vec![0xab, 1]),
                Value::Null
            ]
        );
        for (json, expected) in [
            ("[-1, 2, \"\", null]", "a: -1 is not a u64"),
            ("[1, 2, \"abc\", null]", "c:"),
            ("[1]", "1 arguments for 4 parameters (a, b, c, d)"),
            ("{}", "a JSON array"),
            ("[", "not JSON"),
        ] {
            let error = reducer.args_from_json(json).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn bad_descriptions_say_what_is_wrong() {
        for (json, expected) in [
            (
                &br#"{"reducers": [{"name": "r", "params": [{"name": "x", "type": "int"}]}]}"#[..],
                "parameter x",
            ),
            (br#"{"reducers": [{"name": "r"}, {"name": "r"}]}"#, "twice"),
            (
                br#"{"tables": [{"name": "t", "columns": []}]}"#,
                "at least one column",
            ),
            (br#"{"tabels": []}"#, "unknown field"),
            (b"not json", "section interstice"),
        ] {
            let error = parse(json).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
