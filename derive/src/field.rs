//! `#[derive(Field)]`: a fieldless enum as a column holding the variant's name.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Error, Fields, Ident};

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    const NEEDS_ENUM: &str =
        "#[derive(Field)] needs an enum of fieldless variants; implement Field by hand for others";
    let data = match &input.data {
        Data::Enum(data) => data,
        Data::Struct(data) => return Err(Error::new(data.struct_token.span, NEEDS_ENUM)),
        Data::Union(data) => return Err(Error::new(data.union_token.span, NEEDS_ENUM)),
    };
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &input.generics,
            "a Field enum cannot be generic",
        ));
    }
    if data.variants.is_empty() {
        return Err(Error::new(
            input.ident.span(),
            "#[derive(Field)] needs at least one variant: an enum without any has no value \
             to store",
        ));
    }
    let mut errors = crate::Errors::default();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(Error::new_spanned(
                &variant.fields,
                format!(
                    "variant `{}` has fields: #[derive(Field)] stores a variant by its name",
                    variant.ident.unraw()
                ),
            ));
        }
    }
    errors.finish()?;

    let ty = &input.ident;
    let type_name = ty.unraw().to_string();
    let value = Ident::new("value", Span::mixed_site());
    let text = Ident::new("text", Span::mixed_site());
    let cfgs = |variant: &syn::Variant| -> Vec<syn::Attribute> {
        variant
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .cloned()
            .collect()
    };
    let to_arms = data.variants.iter().map(|variant| {
        let ident = &variant.ident;
        let name = ident.unraw().to_string();
        let cfgs = cfgs(variant);
        quote!(#(#cfgs)* Self::#ident => #name,)
    });
    let from_arms = data.variants.iter().map(|variant| {
        let ident = &variant.ident;
        let name = ident.unraw().to_string();
        let cfgs = cfgs(variant);
        quote!(#(#cfgs)* #name => ::core::result::Result::Ok(Self::#ident),)
    });
    let unknown = format!("{{:?}} is not a variant of {type_name}");
    let not_string = format!("expected {type_name} (a string), got {{}}");

    Ok(quote! {
        #[automatically_derived]
        impl ::interstice::runtime::Field for #ty {
            const TYPE: ::interstice::runtime::ColumnType =
                ::interstice::runtime::ColumnType::Str;

            fn to_value(&self) -> ::interstice::runtime::Value {
                let #text: &'static str = match self {
                    #(#to_arms)*
                };
                ::interstice::runtime::Value::Str(::std::string::String::from(#text))
            }

            fn from_value(
                #value: ::interstice::runtime::Value,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                match #value {
                    ::interstice::runtime::Value::Str(#text) => match #text.as_str() {
                        #(#from_arms)*
                        _ => ::core::result::Result::Err(::std::format!(#unknown, #text)),
                    },
                    #value => ::core::result::Result::Err(::std::format!(
                        #not_string,
                        #value.kind_name(),
                    )),
                }
            }
        }
    })
}
