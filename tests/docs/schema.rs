//! The tables of the config file and the keys the loader accepts in each, taken from the serde
//! structs themselves: `#[serde(deny_unknown_fields)]` rejects any other key, and the same
//! field lists are what its "did you mean" suggestions come from.

use loadtide::config::capacity::RawCapacity;
use loadtide::config::raw::*;
use serde::de::{self, DeserializeOwned, Visitor};

/// The field names serde's derive gives `deserialize_struct`: exactly the keys the struct
/// accepts (renames applied, e.g. a schedule's `for`).
fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut out = None;
    let _ = T::deserialize(Introspect(&mut out));
    out.unwrap_or_else(|| panic!("{} is not a struct", std::any::type_name::<T>()))
}

struct Introspect<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Introspect<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// What the value of a key is, where it is itself made of keys.
#[derive(Clone, Copy)]
pub enum Child {
    /// A table of this struct (`[profiles.X.brake]`).
    Table(&'static str),
    /// A table of names chosen by the user, each a table of this struct (`[targets.NAME]`).
    Map(&'static str),
    /// An array of tables of this struct (`[[targets.X.endpoints]]`).
    Array(&'static str),
}

pub struct Table {
    /// The struct's name, as in the source.
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub children: Vec<(&'static str, Child)>,
    /// Deserializes a TOML value as this struct: the loader's own verdict on a doc example.
    pub parse: fn(toml::Value) -> Result<(), String>,
}

impl Table {
    pub fn child(&self, key: &str) -> Option<Child> {
        self.children
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| *c)
    }
}

fn parse<T: DeserializeOwned>(v: toml::Value) -> Result<(), String> {
    T::deserialize(v).map(|_| ()).map_err(|e| e.to_string())
}

fn table<T: DeserializeOwned>(children: &[(&'static str, Child)]) -> Table {
    let name = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .expect("a name");
    Table {
        name,
        keys: fields::<T>(),
        children: children.to_vec(),
        parse: parse::<T>,
    }
}

/// Every table of the config file, the top level first. `tests/docs.rs` fails when a
/// `deny_unknown_fields` struct of the config is missing here.
pub fn tables() -> Vec<Table> {
    use Child::{Array, Map, Table as Sub};
    let pattern = Sub("RawShape");
    let think = Sub("ThinkSpec");
    vec![
        table::<RawConfig>(&[
            ("server", Sub("RawServer")),
            ("demo_target", Sub("RawDemoTarget")),
            ("safety", Sub("RawSafety")),
            ("targets", Map("RawTarget")),
            ("scenarios", Map("RawScenario")),
            ("profiles", Map("RawProfile")),
        ]),
        table::<RawServer>(&[]),
        table::<RawDemoTarget>(&[]),
        table::<RawSafety>(&[]),
        table::<RawTarget>(&[
            ("endpoints", Array("RawEndpoint")),
            ("websocket", Sub("RawWebSocket")),
            ("file_sd", Sub("RawFileSd")),
            ("feeders", Map("RawFeeder")),
        ]),
        table::<RawEndpoint>(&[("transaction", Array("RawStatement"))]),
        table::<RawStatement>(&[]),
        table::<RawWebSocket>(&[]),
        table::<RawFileSd>(&[]),
        table::<RawProfile>(&[
            ("rate", pattern),
            ("users", pattern),
            ("connections", pattern),
            ("schedule", Sub("RawSchedule")),
            ("brake", Sub("RawBrake")),
            ("capacity", Sub("RawCapacity")),
            ("think", think),
        ]),
        table::<RawShape>(&[("points", Array("RawPoint")), ("stages", Array("RawShape"))]),
        table::<RawPoint>(&[]),
        table::<RawSchedule>(&[("windows", Array("RawWindow"))]),
        table::<RawWindow>(&[]),
        table::<RawBrake>(&[]),
        table::<RawCapacity>(&[]),
        table::<RawScenario>(&[
            ("steps", Array("RawStep")),
            ("feeders", Map("RawFeeder")),
            ("secrets", Map("RawSecret")),
            ("auth", Sub("RawAuth")),
        ]),
        table::<RawStep>(&[
            ("extract", Map("RawExtract")),
            ("json_equals", Sub("RawJsonEquals")),
            ("steps", Array("RawStep")),
            ("think", think),
        ]),
        table::<RawExtract>(&[]),
        table::<RawJsonEquals>(&[]),
        table::<RawFeeder>(&[]),
        table::<RawSecret>(&[]),
        table::<RawAuth>(&[("basic", Sub("RawBasicAuth"))]),
        table::<RawBasicAuth>(&[]),
        // An untagged enum ("1s", ["1s", "3s"] or { exponential = "2s" }): serde keeps no
        // field list for its variants, so the one key of its table form is written here.
        Table {
            name: "ThinkSpec",
            keys: &["exponential"],
            children: vec![],
            parse: parse::<loadtide::scenario::think::ThinkSpec>,
        },
    ]
}
