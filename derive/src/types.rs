//! What the macros can tell from a type's syntax alone.

use syn::{GenericArgument, PathArguments, Type, TypePath};

/// The last segment of a plain path type (`std::option::Option<T>` -> `Option<T>`), or
/// `None` for other types.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(TypePath { qself: None, path }) => path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

/// `Option<T>`, by any path ending in `Option`.
pub fn is_option(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|segment| {
        segment.ident == "Option" && matches!(segment.arguments, PathArguments::AngleBracketed(_))
    })
}

/// One of Rust's integer types, which an auto-increment key may have.
pub fn is_integer(ty: &Type) -> bool {
    const INTEGERS: [&str; 10] = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
    ];
    last_segment(ty).is_some_and(|segment| {
        segment.arguments.is_none() && INTEGERS.iter().any(|name| segment.ident == name)
    })
}

/// The two type arguments of a path type ending in `name` (`Result<(), E>`), if it has
/// exactly two.
pub fn two_arguments<'a>(ty: &'a Type, name: &str) -> Option<(&'a Type, &'a Type)> {
    let segment = last_segment(ty)?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return None;
    };
    let mut types = arguments.args.iter();
    match (types.next(), types.next(), types.next()) {
        (Some(GenericArgument::Type(first)), Some(GenericArgument::Type(second)), None) => {
            Some((first, second))
        }
        _ => None,
    }
}

/// `()`.
pub fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(paren) => is_unit(&paren.elem),
        Type::Group(group) => is_unit(&group.elem),
        _ => false,
    }
}

/// A path type ending in `name` whose arguments, if any, are elided lifetimes
/// (`ReducerContext`, `runtime::ReducerContext<'_>`).
pub fn is_named(ty: &Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|segment| {
        segment.ident == name
            && match &segment.arguments {
                PathArguments::None => true,
                PathArguments::AngleBracketed(arguments) => arguments.args.iter().all(
                    |argument| matches!(argument, GenericArgument::Lifetime(l) if l.ident == "_"),
                ),
                PathArguments::Parenthesized(_) => false,
            }
    })
}
