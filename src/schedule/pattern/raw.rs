//! A pattern as it is written in config, before `parse` checks it: the keys of every
//! pattern kind in one table. Lives with the pattern so that schedule needs nothing from config.

use serde::Deserialize;

/// A load value: a plain number (constant) or a table naming a pattern and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPattern {
    Value(f64),
    Shape(Box<RawShape>),
}

impl<'de> Deserialize<'de> for RawPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawPattern;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a pattern table")
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v as f64))
            }
            // Environment variables arrive as strings: `LOADTIDE_PROFILES__X__RATE=50`.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPattern, E> {
                v.trim()
                    .parse()
                    .map(RawPattern::Value)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<RawPattern, A::Error> {
                RawShape::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|s| RawPattern::Shape(Box::new(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Every key any pattern kind takes; `schedule::pattern` checks which apply to `pattern`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShape {
    /// constant, step, ramp, spike, random, sine (or diurnal), points, stages.
    pub pattern: Option<String>,
    pub value: Option<f64>,
    // step
    pub start: Option<f64>,
    pub step: Option<f64>,
    pub every: Option<String>,
    // ramp (and step's bound `to`)
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub over: Option<String>,
    pub curve: Option<String>,
    // spike
    pub base: Option<f64>,
    pub peak: Option<f64>,
    pub at: Option<String>,
    pub hold: Option<String>,
    pub ramp: Option<String>,
    // random and sine
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub seed: Option<u64>,
    pub period: Option<String>,
    pub peak_at: Option<String>,
    pub trough_at: Option<String>,
    // points
    pub points: Option<Vec<RawPoint>>,
    // stages
    pub stages: Option<Vec<RawShape>>,
    /// A stage's length.
    pub duration: Option<String>,
    /// A k6-style stage: ramp linearly from the previous stage's last value to this.
    pub target: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoint {
    pub at: Option<String>,
    pub value: Option<f64>,
}
