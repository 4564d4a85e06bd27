//! `#[reducer]`: a function `fn name(ctx: &mut ReducerContext, args..) -> Result<(), E>` as
//! a unit struct implementing `Reducer`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Attribute, Error, FnArg, Ident, Item, ItemFn, LitStr, Pat, PatIdent, ReturnType, Type};

use crate::Errors;
use crate::types::{is_named, is_unit, two_arguments};

const CONTEXT: &str = "a reducer's first parameter is its context: `ctx: &mut ReducerContext`";

/// One argument after the context.
struct Param<'a> {
    pat: &'a PatIdent,
    ty: &'a Type,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(Item::Fn(item)) => item,
        Ok(other) => {
            return Error::new_spanned(
                other,
                "#[reducer] goes on a function: `fn name(ctx: &mut ReducerContext, ..) -> \
                 Result<(), E>`",
            )
            .into_compile_error();
        }
        Err(error) => return error.into_compile_error(),
    };
    match reducer(args, &item) {
        Ok(tokens) => tokens,
        // The function stays as written, so that the error is the only one: its imports are
        // used, and whatever names it is still defined. (Not an async one: what makes it
        // wrong here could make it wrong as a function too.)
        Err(error) if item.sig.asyncness.is_some() => error.into_compile_error(),
        Err(error) => {
            let error = error.into_compile_error();
            quote! {
                #error
                #[allow(dead_code)]
                #item
            }
        }
    }
}

fn reducer(args: TokenStream, item: &ItemFn) -> syn::Result<TokenStream> {
    let name = attribute_name(args)?;
    let mut errors = Errors::default();
    check_signature(item, &mut errors);
    let context = match context(item) {
        Ok(context) => context,
        Err(error) => return Err(errors.with(error)),
    };
    let params = params(item, &mut errors);
    let error = match error_type(item) {
        Ok(error) => error,
        Err(error) => return Err(errors.with(error)),
    };
    errors.finish()?;
    let name = name.unwrap_or_else(|| item.sig.ident.unraw().to_string());
    Ok(generate(item, &name, context, &params, error))
}

/// `name = ".."` from `#[reducer(name = "..")]`.
fn attribute_name(args: TokenStream) -> syn::Result<Option<String>> {
    let mut name: Option<String> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let lit: LitStr = meta.value()?.parse()?;
            if name.is_some() {
                return Err(Error::new(lit.span(), "the reducer's name is given twice"));
            }
            if lit.value().is_empty() {
                return Err(Error::new(lit.span(), "a reducer's name cannot be empty"));
            }
            name = Some(lit.value());
            Ok(())
        } else {
            let path = &meta.path;
            let key = quote!(#path).to_string().replace(' ', "");
            Err(meta.error(format!(
                "unknown reducer attribute `{key}`: expected `name = \"..\"`"
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(name)
}

/// What the signature must not have: const, async, unsafe, an ABI, generics, variadics.
fn check_signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(token) = &sig.constness {
        errors.push(Error::new(token.span, "a reducer cannot be a const fn"));
    }
    if let Some(token) = &sig.asyncness {
        errors.push(Error::new(
            token.span,
            "a reducer cannot be async: it runs inside its transaction",
        ));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(Error::new(token.span, "a reducer cannot be unsafe"));
    }
    if let Some(abi) = &sig.abi {
        errors.push(Error::new_spanned(abi, "a reducer cannot have an ABI"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(Error::new_spanned(
            &sig.generics,
            "a reducer cannot be generic: its arguments are logged, so their types are fixed",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(Error::new_spanned(variadic, "a reducer cannot be variadic"));
    }
}

/// The context parameter (`ctx: &mut ReducerContext`; `mut ctx` or `_` as the pattern).
fn context(item: &ItemFn) -> syn::Result<&syn::PatType> {
    let Some(first) = item.sig.inputs.first() else {
        return Err(Error::new(item.sig.paren_token.span.join(), CONTEXT));
    };
    let typed = match first {
        FnArg::Receiver(receiver) => {
            return Err(Error::new_spanned(
                receiver,
                "a reducer is a free function, not a method",
            ));
        }
        FnArg::Typed(typed) => typed,
    };
    let is_context = match &*typed.ty {
        Type::Reference(reference) => {
            reference.mutability.is_some()
                && reference.lifetime.as_ref().is_none_or(|l| l.ident == "_")
                && is_named(&reference.elem, "ReducerContext")
        }
        _ => false,
    };
    if !is_context {
        return Err(Error::new_spanned(&typed.ty, CONTEXT));
    }
    let plain = match &*typed.pat {
        Pat::Ident(pat) => pat.by_ref.is_none() && pat.subpat.is_none(),
        Pat::Wild(_) => true,
        _ => false,
    };
    if !plain || !typed.attrs.is_empty() {
        return Err(Error::new_spanned(
            &typed.pat,
            "the context parameter must be a name: `ctx: &mut ReducerContext`",
        ));
    }
    Ok(typed)
}

/// The arguments after the context: plain names (`mut` allowed) of owned types.
fn params<'a>(item: &'a ItemFn, errors: &mut Errors) -> Vec<Param<'a>> {
    let mut params = Vec::new();
    for input in item.sig.inputs.iter().skip(1) {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(Error::new_spanned(
                    receiver,
                    "a reducer is a free function, not a method",
                ));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        if let Some(attr) = typed.attrs.first() {
            errors.push(Error::new_spanned(
                attr,
                "a reducer's parameters cannot have attributes",
            ));
        }
        match &*typed.ty {
            Type::Reference(_) => errors.push(Error::new_spanned(
                &typed.ty,
                "a reducer's arguments are logged, so owned: `String`, not `&str`; `Vec<u8>`, \
                 not `&[u8]`",
            )),
            Type::ImplTrait(_) => errors.push(Error::new_spanned(
                &typed.ty,
                "a reducer's argument cannot be `impl Trait`: its type is logged",
            )),
            _ => {}
        }
        match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                params.push(Param { pat, ty: &typed.ty });
            }
            pat => errors.push(Error::new_spanned(
                pat,
                "a reducer's parameter must be a name (`x: T` or `mut x: T`): names are logged",
            )),
        }
    }
    params
}

/// `E` of the return type `Result<(), E>`.
fn error_type(item: &ItemFn) -> syn::Result<&Type> {
    const RETURNS: &str = "a reducer returns `Result<(), E>` (E: Display): an error rolls its \
                           transaction back";
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return Err(Error::new_spanned(&item.sig, RETURNS));
    };
    match two_arguments(ty, "Result") {
        Some((ok, error)) if is_unit(ok) => Ok(error),
        _ => Err(Error::new_spanned(ty, RETURNS)),
    }
}

/// The attributes that document the reducer, or decide whether it exists, go on its struct;
/// the others (lints, `#[inline]`, instrumentation) on `run`, which holds its body.
fn on_struct(attr: &Attribute) -> bool {
    ["doc", "cfg", "cfg_attr", "deprecated"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

fn generate(
    item: &ItemFn,
    name: &str,
    context: &syn::PatType,
    params: &[Param<'_>],
    error: &Type,
) -> TokenStream {
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let body = &item.block;
    let struct_attrs = item.attrs.iter().filter(|attr| on_struct(attr));
    let run_attrs = item.attrs.iter().filter(|attr| !on_struct(attr));
    let cfgs: Vec<&Attribute> = item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    let types = params.iter().map(|param| param.ty);
    let names = params
        .iter()
        .map(|param| param.pat.ident.unraw().to_string());
    let args = Ident::new("args", Span::mixed_site());
    let (args_param, unpack) = if params.is_empty() {
        (quote!(_), quote!())
    } else {
        let pats = params.iter().map(|param| {
            let mutability = &param.pat.mutability;
            let ident = &param.pat.ident;
            quote!(#mutability #ident)
        });
        (quote!(#args), quote!(let (#(#pats,)*) = #args;))
    };

    quote! {
        #(#struct_attrs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #ident;

        #(#cfgs)*
        impl ::interstice::runtime::Reducer for #ident {
            type Args = (#(#types,)*);
            type Error = #error;
            const NAME: &'static str = #name;
            const PARAMS: &'static [&'static str] = &[#(#names),*];

            #(#run_attrs)*
            fn run(
                #context,
                #args_param: <Self as ::interstice::runtime::Reducer>::Args,
            ) -> ::core::result::Result<(), #error> {
                #unpack
                #body
            }
        }
    }
}
