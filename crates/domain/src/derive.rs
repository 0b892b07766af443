//! The derive sets every stored domain type shares, as two macros the
//! modules declared after this one use:
//!
//! * `record!` — a struct stored in the log or the views: `Clone`, `Debug`,
//!   `PartialEq`, `Eq`, serde and rkyv.
//! * `label!` — a field-less enum: also `Copy` and `Hash`, snake_case in JSON,
//!   and comparable in its archived form. Extra derives (e.g. `PartialOrd`,
//!   `Ord`) go in an attribute of their own before the enum.

macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Clone, Debug, PartialEq, Eq,
            serde::Serialize, serde::Deserialize,
            rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
        )]
        pub struct $name { $($body)* }
    };
}

macro_rules! label {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize,
            rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
        )]
        #[rkyv(derive(Debug, PartialEq, Eq))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($body)* }
    };
}
