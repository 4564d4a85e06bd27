//! `#[derive(Table)]`: a struct with named fields as a table, one column per field.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Error, Expr, Fields, Ident, LitInt, LitStr, Token, Type};

use crate::Errors;
use crate::names::{snake_case, upper_snake_case};
use crate::types::{is_integer, is_option};

/// The attributes a field may carry.
const FIELD_ATTRIBUTES: [&str; 5] = ["primary_key", "auto_inc", "unique", "index", "default"];

/// One field, as a column.
struct Column<'a> {
    /// The field as written (perhaps a raw identifier).
    field: &'a Ident,
    /// The column's name: the field's, without `r#`.
    name: String,
    ty: &'a Type,
    /// The `#[primary_key]` attribute (and so on), when it was written.
    primary_key: Option<&'a Attribute>,
    auto_inc: Option<&'a Attribute>,
    unique: Option<&'a Attribute>,
    index: Option<&'a Attribute>,
    default: Option<Expr>,
}

/// The table's name and version, from `#[table(..)]` or the defaults.
struct TableAttributes {
    name: String,
    version: u32,
}

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = named_fields(input)?;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &input.generics,
            "a table type cannot be generic",
        ));
    }
    let mut errors = Errors::default();
    let table = table_attributes(input, &mut errors);
    let columns: Vec<Column<'_>> = fields
        .iter()
        .map(|field| column(field, &mut errors))
        .collect();
    errors.finish()?;
    let key = check_columns(&columns)?;
    Ok(generate(input, &table, &columns, key))
}

/// The struct's named fields, at least one; an error for anything else.
fn named_fields(input: &DeriveInput) -> syn::Result<&Punctuated<syn::Field, Token![,]>> {
    const NEEDS_NAMED: &str = "#[derive(Table)] needs a struct with named fields: each field is \
                               a column";
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            Fields::Unnamed(_) | Fields::Unit => {
                return Err(Error::new(input.ident.span(), NEEDS_NAMED));
            }
        },
        Data::Enum(data) => return Err(Error::new(data.enum_token.span, NEEDS_NAMED)),
        Data::Union(data) => return Err(Error::new(data.union_token.span, NEEDS_NAMED)),
    };
    if fields.is_empty() {
        return Err(Error::new(
            input.ident.span(),
            "a table needs at least one field: its primary key",
        ));
    }
    Ok(fields)
}

/// `#[table(name = "..", version = N)]`, and no field attribute on the struct.
fn table_attributes(input: &DeriveInput, errors: &mut Errors) -> TableAttributes {
    let mut name: Option<LitStr> = None;
    let mut version: Option<u32> = None;
    for attr in &input.attrs {
        if is_field_attribute(attr) {
            errors.push(Error::new_spanned(
                attr,
                "this attribute goes on a field, not on the struct",
            ));
            continue;
        }
        if !attr.path().is_ident("table") {
            continue;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                if name.is_some() {
                    return Err(Error::new(lit.span(), "the table's name is given twice"));
                }
                if lit.value().is_empty() {
                    return Err(Error::new(lit.span(), "a table's name cannot be empty"));
                }
                name = Some(lit);
            } else if meta.path.is_ident("version") {
                let lit: LitInt = meta.value()?.parse()?;
                if version.is_some() {
                    return Err(Error::new(lit.span(), "the table's version is given twice"));
                }
                version = Some(lit.base10_parse()?);
            } else {
                let path = &meta.path;
                let key = path.get_ident().map_or_else(
                    || quote!(#path).to_string().replace(' ', ""),
                    |ident| ident.unraw().to_string(),
                );
                return Err(meta.error(format!(
                    "unknown table attribute `{key}`: expected `name = \"..\"` or `version = N`"
                )));
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    TableAttributes {
        name: name.map_or_else(
            || snake_case(&input.ident.unraw().to_string()),
            |lit| lit.value(),
        ),
        version: version.unwrap_or(1),
    }
}

fn is_field_attribute(attr: &Attribute) -> bool {
    FIELD_ATTRIBUTES
        .iter()
        .any(|name| attr.path().is_ident(name))
}

/// A field and its attributes.
fn column<'a>(field: &'a syn::Field, errors: &mut Errors) -> Column<'a> {
    let ident = field.ident.as_ref().expect("named fields have names");
    let mut column = Column {
        field: ident,
        name: ident.unraw().to_string(),
        ty: &field.ty,
        primary_key: None,
        auto_inc: None,
        unique: None,
        index: None,
        default: None,
    };
    for attr in &field.attrs {
        if attr.path().is_ident("table") {
            errors.push(Error::new_spanned(
                attr,
                "#[table(..)] goes on the struct, not on a field",
            ));
            continue;
        }
        let Some(&name) = FIELD_ATTRIBUTES
            .iter()
            .find(|name| attr.path().is_ident(name))
        else {
            continue;
        };
        if name == "default" {
            if column.default.is_some() {
                errors.push(Error::new_spanned(attr, "a second #[default(..)]"));
            }
            match &attr.meta {
                syn::Meta::List(_) => match attr.parse_args::<Expr>() {
                    Ok(expr) => column.default = Some(expr),
                    Err(error) => errors.push(error),
                },
                _ => errors.push(Error::new_spanned(
                    attr,
                    "#[default] needs the value: #[default(expr)]",
                )),
            }
            continue;
        }
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.push(Error::new_spanned(
                attr,
                format!("#[{name}] takes no arguments"),
            ));
            continue;
        }
        let slot = match name {
            "primary_key" => &mut column.primary_key,
            "auto_inc" => &mut column.auto_inc,
            "unique" => &mut column.unique,
            _ => &mut column.index,
        };
        if slot.is_some() {
            errors.push(Error::new_spanned(attr, format!("a second #[{name}]")));
        }
        *slot = Some(attr);
    }
    column
}

/// Checks the attributes against each other; returns the primary key's position.
fn check_columns(columns: &[Column<'_>]) -> syn::Result<usize> {
    let mut errors = Errors::default();
    let mut keys = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.primary_key.map(|attr| (i, attr)));
    let explicit = keys.next().map(|(i, _)| i);
    if let Some(first) = explicit {
        for (_, attr) in keys {
            errors.push(Error::new_spanned(
                attr,
                format!(
                    "a table has one primary key, and `{}` is it already",
                    columns[first].name
                ),
            ));
        }
    }
    let key = explicit.unwrap_or(0);
    let key_column = &columns[key];
    if is_option(key_column.ty) {
        let message = if explicit.is_some() {
            "the primary key cannot be an Option: a key is never null"
        } else {
            "the first field is the key (no field has #[primary_key]), and a key cannot be an \
             Option"
        };
        errors.push(Error::new_spanned(key_column.ty, message));
    }
    for (i, column) in columns.iter().enumerate() {
        if let Some(attr) = column.auto_inc {
            if i != key {
                let which = if explicit.is_some() {
                    String::new()
                } else {
                    format!(
                        " (the first field, `{}`, as no field has #[primary_key])",
                        key_column.name
                    )
                };
                errors.push(Error::new_spanned(
                    attr,
                    format!("#[auto_inc] goes on the primary key{which}"),
                ));
            } else if !is_integer(column.ty) {
                errors.push(Error::new_spanned(
                    column.ty,
                    "#[auto_inc] needs an integer key: u8, u16, u32, u64, usize, i8, i16, i32, \
                     i64 or isize",
                ));
            }
        }
        if i == key {
            for attr in [column.unique, column.index].into_iter().flatten() {
                errors.push(Error::new_spanned(
                    attr,
                    "the primary key is unique and indexed already",
                ));
            }
        }
        let constant = upper_snake_case(&column.name);
        if let Some(other) = columns[..i]
            .iter()
            .find(|c| upper_snake_case(&c.name) == constant)
        {
            errors.push(Error::new(
                column.field.span(),
                format!(
                    "fields `{}` and `{}` would both make the column constant `{constant}`",
                    other.name, column.name
                ),
            ));
        }
    }
    errors.finish()?;
    Ok(key)
}

fn generate(
    input: &DeriveInput,
    table: &TableAttributes,
    columns: &[Column<'_>],
    key: usize,
) -> TokenStream {
    let ty = &input.ident;
    let name = &table.name;
    let version = table.version;
    let key_column = &columns[key];
    let key_field = key_column.field;
    let key_ty = key_column.ty;
    let schema = schema_body(columns, key);
    let column_names = columns.iter().map(|column| column.name.as_str());
    let (into_values, from_values) = conversions(columns);
    let clone = quote_spanned!(key_ty.span()=> ::core::clone::Clone::clone);
    let key_not_null = format!("the primary key of table `{name}` cannot be nullable");
    let key_check = quote_spanned! {key_ty.span()=>
        const _: () = ::core::assert!(
            !<#key_ty as ::interstice::runtime::Field>::NULLABLE,
            #key_not_null,
        );
    };
    let constants = constants(input, table, columns);

    quote! {
        #[automatically_derived]
        impl ::interstice::runtime::Table for #ty {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            const COLUMNS: &'static [&'static str] = &[#(#column_names),*];
            type Key = #key_ty;

            fn schema() -> ::interstice::runtime::Schema {
                #schema
            }

            #into_values

            #from_values

            fn key(&self) -> Self::Key {
                #clone(&self.#key_field)
            }
        }

        #key_check

        #constants
    }
}

/// `<T as Field>`, spanned at the field's type so that a type that is not a `Field` is
/// reported there.
fn field_trait(column: &Column<'_>) -> TokenStream {
    let ty = column.ty;
    quote_spanned!(ty.span()=> <#ty as ::interstice::runtime::Field>)
}

/// The body of `schema()`: the columns in order, then the key, auto-increment, indexes and
/// unique columns, defaults.
fn schema_body(columns: &[Column<'_>], key: usize) -> TokenStream {
    // A local that the user's expressions (defaults) cannot see.
    let schema = Ident::new("schema", Span::mixed_site());
    let declare = columns.iter().map(|column| {
        let field = field_trait(column);
        let name = &column.name;
        quote! {
            let #schema = if #field::NULLABLE {
                #schema.nullable_column(#name, #field::TYPE)
            } else {
                #schema.column(#name, #field::TYPE)
            };
        }
    });
    let key_name = &columns[key].name;
    let auto_inc = columns[key]
        .auto_inc
        .map(|_| quote!(let #schema = #schema.auto_inc();));
    let indexes = columns.iter().filter_map(|column| {
        let name = &column.name;
        if column.unique.is_some() {
            Some(quote!(let #schema = #schema.unique(#name);))
        } else if column.index.is_some() {
            Some(quote!(let #schema = #schema.index(#name);))
        } else {
            None
        }
    });
    let defaults = columns.iter().filter_map(|column| {
        let expr = column.default.as_ref()?;
        let field = field_trait(column);
        let name = &column.name;
        Some(quote! {
            let #schema = #schema.default_value(#name, #field::into_value(#expr));
        })
    });
    quote! {
        let #schema = ::interstice::runtime::Schema::new(
            <Self as ::interstice::runtime::Table>::NAME,
            <Self as ::interstice::runtime::Table>::VERSION,
        );
        #(#declare)*
        let #schema = #schema.primary_key(#key_name);
        #auto_inc
        #(#indexes)*
        #(#defaults)*
        #schema
    }
}

/// `into_values` and `from_values`.
fn conversions(columns: &[Column<'_>]) -> (TokenStream, TokenStream) {
    let values = Ident::new("values", Span::mixed_site());
    let count = columns.len();
    let into_values = columns.iter().map(|column| {
        let field = field_trait(column);
        let ident = column.field;
        quote!(#field::into_value(self.#ident))
    });
    let from_values = columns.iter().map(|column| {
        let ty = column.ty;
        let ident = column.field;
        let name = &column.name;
        quote_spanned! {ty.span()=>
            #ident: ::interstice::runtime::__derive::field::<#ty>(
                <Self as ::interstice::runtime::Table>::NAME,
                #name,
                ::core::iter::Iterator::next(&mut #values),
            )?
        }
    });
    let into_values = quote! {
        fn into_values(self) -> ::std::vec::Vec<::interstice::runtime::Value> {
            ::std::vec![#(#into_values),*]
        }
    };
    let from_values = quote! {
        fn from_values(
            #values: ::std::vec::Vec<::interstice::runtime::Value>,
        ) -> ::interstice::runtime::Result<Self> {
            ::interstice::runtime::__derive::check_len(
                <Self as ::interstice::runtime::Table>::NAME,
                &#values,
                #count,
            )?;
            let mut #values = ::core::iter::IntoIterator::into_iter(#values);
            ::core::result::Result::Ok(Self {
                #(#from_values,)*
            })
        }
    };
    (into_values, from_values)
}

/// The column handles: `pub const OWNER: Col<Account, String> = Col::new("owner");`.
fn constants(input: &DeriveInput, table: &TableAttributes, columns: &[Column<'_>]) -> TokenStream {
    let ty = &input.ident;
    let vis = &input.vis;
    let constants = columns.iter().map(|column| {
        let column_ty = column.ty;
        let name = &column.name;
        let constant = format_ident!("{}", upper_snake_case(name), span = column.field.span());
        let doc = format!("The column `{name}` of table `{}`.", table.name);
        quote_spanned! {column.field.span()=>
            #[doc = #doc]
            #vis const #constant: ::interstice::runtime::Col<#ty, #column_ty> =
                ::interstice::runtime::Col::new(#name);
        }
    });
    quote! {
        #[automatically_derived]
        #[allow(dead_code)]
        impl #ty {
            #(#constants)*
        }
    }
}
