//! Protobuf wire bytes → proto3 JSON in one pass over precompiled per-message plans, without
//! building a `DynamicMessage` (whose per-field maps cost more than the rest of a request).
//!
//! The output equals `DynamicMessage` serialization with default fields emitted (checked by the
//! property test below), up to the order of object members. Maps and `Value`/`Struct`/`ListValue`
//! (every CRM record's custom fields) are covered; messages the plans do not cover (`Any`,
//! proto2) and any input this writer refuses (e.g. a map key sent twice) fall back to
//! `DynamicMessage` in `transcode`.

use std::collections::HashMap;
use std::io::Write as _;

use base64::Engine as _;
use prost_reflect::{Kind, MessageDescriptor, Syntax};

/// Field numbers up to this are looked up in a dense table; larger ones by binary search.
const DENSE_FIELD_NUMBERS: u32 = 64;
/// Nesting bound, as a protobuf decoder has one.
const MAX_DEPTH: usize = 64;
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
const MAX_DURATION_SECONDS: u64 = 315_576_000_000;
const MAX_DURATION_NANOS: u32 = 999_999_999;

/// Why the fast path declined; the caller falls back to `DynamicMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("wire to JSON: {0}")]
pub struct Declined(&'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
}

#[derive(Debug, Clone, Copy)]
enum FieldType {
    Scalar(Scalar),
    Enum(usize),
    Message(usize),
}

#[derive(Debug)]
struct FieldPlan {
    number: u32,
    /// `"jsonName":`, pre-rendered.
    key: Box<[u8]>,
    /// For a map field, the value's type; otherwise the field's.
    ty: FieldType,
    /// The key type of a map field.
    map_key: Option<Scalar>,
    repeated: bool,
    /// Emitted only when present (message fields, oneof members, proto3 `optional`).
    presence: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Plain,
    Timestamp,
    Duration,
    FieldMask,
    Empty,
    Wrapper(Scalar),
    /// `google.protobuf.Value`, `Struct` and `ListValue`: JSON as it is.
    Value,
    Struct,
    ListValue,
}

#[derive(Debug)]
struct MessagePlan {
    fields: Vec<FieldPlan>,
    /// `dense[number]` = field index + 1 (0 = unknown field).
    dense: Vec<u16>,
    special: Special,
    supported: bool,
}

#[derive(Debug)]
struct EnumPlan {
    /// Quoted names by number.
    names: HashMap<i32, Box<[u8]>>,
}

/// Plans for every message reachable from the given roots.
#[derive(Debug, Default)]
pub struct JsonPlans {
    messages: Vec<MessagePlan>,
    enums: Vec<EnumPlan>,
    by_name: HashMap<String, usize>,
}

/// A message type the fast path covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanId(usize);

#[derive(Debug, Clone, Copy)]
enum Occ<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

impl JsonPlans {
    pub fn new(roots: impl IntoIterator<Item = MessageDescriptor>) -> Self {
        let mut plans = Self::default();
        let mut enum_ids: HashMap<String, usize> = HashMap::new();
        for root in roots {
            plans.compile(&root, &mut enum_ids);
        }
        // A message is unsupported when a message it contains is; iterate to a fixed point
        // because message graphs may have cycles.
        loop {
            let mut changed = false;
            for index in 0..plans.messages.len() {
                if !plans.messages[index].supported {
                    continue;
                }
                let broken = plans.messages[index].fields.iter().any(|f| match f.ty {
                    FieldType::Message(inner) => !plans.messages[inner].supported,
                    _ => false,
                });
                if broken {
                    plans.messages[index].supported = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        plans
    }

    /// The plan of `message`, when the fast path covers it.
    pub fn plan_for(&self, message: &MessageDescriptor) -> Option<PlanId> {
        let index = *self.by_name.get(message.full_name())?;
        self.messages[index].supported.then_some(PlanId(index))
    }

    /// Appends the JSON of the message encoded in `bytes` to `out`; on `Err`, `out` is left
    /// truncated to its original length.
    pub fn write(&self, plan: PlanId, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        let mark = out.len();
        let mut scratch = Vec::with_capacity(64);
        let result = self.message(plan.0, bytes, out, &mut scratch, 0);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    fn compile(
        &mut self,
        message: &MessageDescriptor,
        enum_ids: &mut HashMap<String, usize>,
    ) -> usize {
        if let Some(index) = self.by_name.get(message.full_name()) {
            return *index;
        }
        let index = self.messages.len();
        self.by_name.insert(message.full_name().to_owned(), index);
        self.messages.push(MessagePlan {
            fields: Vec::new(),
            dense: Vec::new(),
            special: Special::Plain,
            supported: true,
        });
        let (special, mut supported) = special_of(message);
        if message.parent_file().syntax() != Syntax::Proto3 || message.is_map_entry() {
            supported = false;
        }
        let mut fields = Vec::new();
        // The dynamic JSON types are written from the wire by hand, not through field plans.
        let by_hand = matches!(
            special,
            Special::Value | Special::Struct | Special::ListValue
        );
        for field in message.fields().filter(|_| !by_hand) {
            if field.is_group() {
                supported = false;
            }
            let (ty, map_key) = match field.kind() {
                Kind::Message(entry) if field.is_map() => {
                    let key = entry.map_entry_key_field().kind();
                    let value = entry.map_entry_value_field().kind();
                    (
                        self.field_type(&value, enum_ids, &mut supported),
                        Some(scalar_of(&key)),
                    )
                }
                kind => (self.field_type(&kind, enum_ids, &mut supported), None),
            };
            let mut key = quoted(field.json_name()).into_vec();
            key.push(b':');
            fields.push(FieldPlan {
                number: field.number(),
                key: key.into_boxed_slice(),
                ty,
                map_key,
                repeated: field.is_list(),
                presence: field.supports_presence(),
            });
        }
        fields.sort_by_key(|f| f.number);
        let mut dense = vec![0u16; DENSE_FIELD_NUMBERS as usize + 1];
        for (i, field) in fields.iter().enumerate() {
            if field.number <= DENSE_FIELD_NUMBERS {
                dense[field.number as usize] = u16::try_from(i + 1).unwrap_or(0);
            }
        }
        self.messages[index] = MessagePlan {
            fields,
            dense,
            special,
            supported,
        };
        index
    }

    fn field_type(
        &mut self,
        kind: &Kind,
        enum_ids: &mut HashMap<String, usize>,
        supported: &mut bool,
    ) -> FieldType {
        match kind {
            Kind::Message(inner) => FieldType::Message(self.compile(inner, enum_ids)),
            Kind::Enum(desc) => {
                // Only `Value` uses it, and `Value` is written by hand.
                if desc.full_name() == "google.protobuf.NullValue" {
                    *supported = false;
                }
                let id = match enum_ids.get(desc.full_name()) {
                    Some(id) => *id,
                    None => {
                        let names = desc
                            .values()
                            .map(|v| (v.number(), quoted(v.name())))
                            .collect();
                        self.enums.push(EnumPlan { names });
                        enum_ids.insert(desc.full_name().to_owned(), self.enums.len() - 1);
                        self.enums.len() - 1
                    }
                };
                FieldType::Enum(id)
            }
            kind => FieldType::Scalar(scalar_of(kind)),
        }
    }

    fn field_index(plan: &MessagePlan, number: u32) -> Option<usize> {
        if number <= DENSE_FIELD_NUMBERS {
            return match plan.dense[number as usize] {
                0 => None,
                i => Some(usize::from(i) - 1),
            };
        }
        plan.fields.binary_search_by_key(&number, |f| f.number).ok()
    }

    fn message<'a>(
        &self,
        index: usize,
        bytes: &'a [u8],
        out: &mut Vec<u8>,
        scratch: &mut Vec<(u16, Occ<'a>)>,
        depth: usize,
    ) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined("nesting too deep"));
        }
        let plan = &self.messages[index];
        match plan.special {
            Special::Plain => {}
            Special::Empty => {
                out.extend_from_slice(b"{}");
                return Ok(());
            }
            Special::Value => return self.json_value(bytes, out, depth),
            Special::Struct => return self.json_struct(bytes, out, depth),
            Special::ListValue => return self.json_list(bytes, out, depth),
            special => return self.special(special, bytes, out),
        }
        let start = scratch.len();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (number, occ) = read_field(&mut rest)?;
            if let Some(i) = Self::field_index(plan, number) {
                scratch.push((u16::try_from(i).unwrap_or(u16::MAX), occ));
            }
        }
        // Encoders write fields in order, but the wire format allows any order.
        scratch[start..].sort_by_key(|(i, _)| *i);

        out.push(b'{');
        let mut first = true;
        let mut cursor = start;
        for (i, field) in plan.fields.iter().enumerate() {
            let begin = cursor;
            while cursor < scratch.len() && usize::from(scratch[cursor].0) == i {
                cursor += 1;
            }
            if begin == cursor && field.presence {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&field.key);
            if let Some(key) = field.map_key {
                let entries: Vec<Occ<'a>> =
                    scratch[begin..cursor].iter().map(|(_, o)| *o).collect();
                self.map(key, field.ty, &entries, out, depth)?;
            } else if field.repeated {
                out.push(b'[');
                let mut first_element = true;
                for k in begin..cursor {
                    let occ = scratch[k].1;
                    self.repeated_occurrence(
                        field.ty,
                        occ,
                        out,
                        scratch,
                        depth,
                        &mut first_element,
                    )?;
                }
                out.push(b']');
            } else if begin == cursor {
                self.default_value(field.ty, out);
            } else if let FieldType::Message(inner) = field.ty {
                if cursor - begin == 1 {
                    let Occ::Len(chunk) = scratch[begin].1 else {
                        return Err(Declined("message field without length"));
                    };
                    self.message(inner, chunk, out, scratch, depth + 1)?;
                } else {
                    // Repeated occurrences of a singular message merge: parse them concatenated.
                    let mut merged = Vec::new();
                    for (_, occ) in &scratch[begin..cursor] {
                        let Occ::Len(chunk) = occ else {
                            return Err(Declined("message field without length"));
                        };
                        merged.extend_from_slice(chunk);
                    }
                    self.message(inner, &merged, out, &mut Vec::new(), depth + 1)?;
                }
            } else {
                // Last one wins for singular scalars.
                self.single(field.ty, scratch[cursor - 1].1, out)?;
            }
        }
        out.push(b'}');
        scratch.truncate(start);
        Ok(())
    }

    /// A map field's entries as a JSON object. A key sent twice (the last would win) is
    /// declined rather than resolved here.
    fn map(
        &self,
        key_type: Scalar,
        value_type: FieldType,
        entries: &[Occ<'_>],
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Declined> {
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(entries.len());
        out.push(b'{');
        for (i, entry) in entries.iter().enumerate() {
            let Occ::Len(mut rest) = *entry else {
                return Err(Declined("map entry without length"));
            };
            let (mut key, mut value, mut values) = (None, None, 0);
            while !rest.is_empty() {
                match read_field(&mut rest)? {
                    (1, occ) => key = Some(occ),
                    (2, occ) => {
                        value = Some(occ);
                        values += 1;
                    }
                    _ => {}
                }
            }
            let mut rendered = Vec::new();
            match key {
                Some(occ) => write_scalar(key_type, occ, &mut rendered)?,
                None => rendered.extend_from_slice(default_scalar(key_type)),
            }
            // JSON object keys are strings: numbers and booleans are quoted.
            if rendered.first() != Some(&b'"') {
                rendered.insert(0, b'"');
                rendered.push(b'"');
            }
            if keys.contains(&rendered) {
                return Err(Declined("map key sent twice"));
            }
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&rendered);
            out.push(b':');
            keys.push(rendered);
            match (value_type, value) {
                (FieldType::Message(inner), Some(Occ::Len(chunk))) if values == 1 => {
                    self.message(inner, chunk, out, &mut Vec::new(), depth + 1)?;
                }
                (FieldType::Message(inner), None)
                    if self.messages[inner].special == Special::Value =>
                {
                    out.extend_from_slice(b"null");
                }
                // Merged message values, or a message value left out: not worth a fast path.
                (FieldType::Message(_), _) => {
                    return Err(Declined("map message value sent twice or left out"));
                }
                (ty, Some(occ)) => self.single(ty, occ, out)?,
                (ty, None) => self.default_value(ty, out),
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// `google.protobuf.Value`: null, number, string, bool, object or array.
    fn json_value(&self, bytes: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined("nesting too deep"));
        }
        let mut rest = bytes;
        // The oneof's last member on the wire is the value.
        let mut kind = None;
        let mut nested = 0;
        while !rest.is_empty() {
            let (number, occ) = read_field(&mut rest)?;
            if (1..=6).contains(&number) {
                kind = Some((number, occ));
                nested += usize::from(number >= 5);
            }
        }
        if nested > 1 {
            return Err(Declined("merged Value members"));
        }
        match kind {
            None | Some((1, Occ::Varint(_))) => out.extend_from_slice(b"null"),
            Some((2, Occ::Fixed64(bits))) => {
                let number = f64::from_bits(bits);
                if !number.is_finite() {
                    return Err(Declined("non-finite number in a Value"));
                }
                serde_json::to_writer(&mut *out, &number).map_err(|_| Declined("write"))?;
            }
            Some((3, occ @ Occ::Len(_))) => write_scalar(Scalar::String, occ, out)?,
            Some((4, occ @ Occ::Varint(_))) => write_scalar(Scalar::Bool, occ, out)?,
            Some((5, Occ::Len(chunk))) => self.json_struct(chunk, out, depth + 1)?,
            Some((6, Occ::Len(chunk))) => self.json_list(chunk, out, depth + 1)?,
            Some(_) => return Err(Declined("wrong wire type in a Value")),
        }
        Ok(())
    }

    /// `google.protobuf.Struct`: a JSON object of Values.
    fn json_struct(&self, bytes: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined("nesting too deep"));
        }
        let mut rest = bytes;
        let mut keys: Vec<&[u8]> = Vec::new();
        out.push(b'{');
        while !rest.is_empty() {
            let (number, occ) = read_field(&mut rest)?;
            if number != 1 {
                continue;
            }
            let Occ::Len(mut entry) = occ else {
                return Err(Declined("Struct entry without length"));
            };
            let (mut key, mut value, mut values): (&[u8], Option<&[u8]>, usize) = (b"", None, 0);
            while !entry.is_empty() {
                match read_field(&mut entry)? {
                    (1, Occ::Len(k)) => key = k,
                    (2, Occ::Len(v)) => {
                        value = Some(v);
                        values += 1;
                    }
                    (1 | 2, _) => return Err(Declined("wrong wire type in a Struct entry")),
                    _ => {}
                }
            }
            if values > 1 || keys.contains(&key) {
                return Err(Declined("Struct member sent twice"));
            }
            if !keys.is_empty() {
                out.push(b',');
            }
            keys.push(key);
            write_scalar(Scalar::String, Occ::Len(key), out)?;
            out.push(b':');
            match value {
                Some(chunk) => self.json_value(chunk, out, depth + 1)?,
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// `google.protobuf.ListValue`: a JSON array of Values.
    fn json_list(&self, bytes: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined("nesting too deep"));
        }
        let mut rest = bytes;
        let mut first = true;
        out.push(b'[');
        while !rest.is_empty() {
            match read_field(&mut rest)? {
                (1, Occ::Len(chunk)) => {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    self.json_value(chunk, out, depth + 1)?;
                }
                (1, _) => return Err(Declined("wrong wire type in a ListValue")),
                _ => {}
            }
        }
        out.push(b']');
        Ok(())
    }

    fn repeated_occurrence<'a>(
        &self,
        ty: FieldType,
        occ: Occ<'a>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<(u16, Occ<'a>)>,
        depth: usize,
        first: &mut bool,
    ) -> Result<(), Declined> {
        let mut separator = |out: &mut Vec<u8>| {
            if !*first {
                out.push(b',');
            }
            *first = false;
        };
        match (ty, occ) {
            (FieldType::Message(inner), Occ::Len(chunk)) => {
                separator(out);
                self.message(inner, chunk, out, scratch, depth + 1)
            }
            (FieldType::Scalar(Scalar::String | Scalar::Bytes), _) => {
                separator(out);
                self.single(ty, occ, out)
            }
            // Packed: one length-delimited run of values.
            (_, Occ::Len(mut run)) => {
                let wide = match ty {
                    FieldType::Scalar(Scalar::Fixed64 | Scalar::Sfixed64 | Scalar::Double) => {
                        Some(8)
                    }
                    FieldType::Scalar(Scalar::Fixed32 | Scalar::Sfixed32 | Scalar::Float) => {
                        Some(4)
                    }
                    _ => None,
                };
                while !run.is_empty() {
                    let value = match wide {
                        Some(8) => Occ::Fixed64(u64::from_le_bytes(take::<8>(&mut run)?)),
                        Some(_) => Occ::Fixed32(u32::from_le_bytes(take::<4>(&mut run)?)),
                        None => Occ::Varint(read_varint(&mut run)?),
                    };
                    separator(out);
                    self.single(ty, value, out)?;
                }
                Ok(())
            }
            _ => {
                separator(out);
                self.single(ty, occ, out)
            }
        }
    }

    fn single(&self, ty: FieldType, occ: Occ<'_>, out: &mut Vec<u8>) -> Result<(), Declined> {
        match ty {
            FieldType::Scalar(scalar) => write_scalar(scalar, occ, out),
            FieldType::Enum(id) => {
                let Occ::Varint(raw) = occ else {
                    return Err(Declined("enum without varint"));
                };
                #[allow(clippy::cast_possible_truncation)]
                let number = raw as i32;
                match self.enums[id].names.get(&number) {
                    Some(name) => out.extend_from_slice(name),
                    None => write_display(out, number),
                }
                Ok(())
            }
            FieldType::Message(_) => Err(Declined("message where a value was expected")),
        }
    }

    fn default_value(&self, ty: FieldType, out: &mut Vec<u8>) {
        match ty {
            FieldType::Scalar(scalar) => out.extend_from_slice(default_scalar(scalar)),
            FieldType::Enum(id) => match self.enums[id].names.get(&0) {
                Some(name) => out.extend_from_slice(name),
                None => out.push(b'0'),
            },
            FieldType::Message(_) => out.extend_from_slice(b"{}"),
        }
    }

    fn special(&self, special: Special, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        let mut rest = bytes;
        let (mut first, mut second) = (None, None);
        let mut paths: Vec<&[u8]> = Vec::new();
        while !rest.is_empty() {
            match (special, read_field(&mut rest)?) {
                (Special::FieldMask, (1, Occ::Len(path))) => paths.push(path),
                (_, (1, occ)) => first = Some(occ),
                (_, (2, occ)) => second = Some(occ),
                _ => {}
            }
        }
        let varint = |occ: Option<Occ<'_>>| match occ {
            None => Ok(0),
            Some(Occ::Varint(v)) => Ok(v),
            Some(_) => Err(Declined("wrong wire type in a well-known type")),
        };
        match special {
            Special::Timestamp => {
                #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
                let ts = prost_types::Timestamp {
                    seconds: varint(first)? as i64,
                    nanos: varint(second)? as i32,
                };
                if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds) {
                    return Err(Declined("timestamp out of range"));
                }
                match u32::try_from(ts.nanos) {
                    Ok(nanos) if nanos <= MAX_DURATION_NANOS => {
                        write_timestamp(out, ts.seconds, nanos);
                        Ok(())
                    }
                    // Out-of-range nanos are normalized by prost's formatter, as DynamicMessage does.
                    _ => write!(out, "\"{ts}\"").map_err(|_| Declined("write")),
                }
            }
            Special::Duration => {
                #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
                let d = prost_types::Duration {
                    seconds: varint(first)? as i64,
                    nanos: varint(second)? as i32,
                };
                if d.seconds.unsigned_abs() > MAX_DURATION_SECONDS
                    || d.nanos.unsigned_abs() > MAX_DURATION_NANOS
                {
                    return Err(Declined("duration out of range"));
                }
                write!(out, "\"{d}\"").map_err(|_| Declined("write"))
            }
            Special::FieldMask => {
                out.push(b'"');
                for (i, path) in paths.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    camel_case_path(path, out)?;
                }
                out.push(b'"');
                Ok(())
            }
            Special::Wrapper(scalar) => match first {
                Some(occ) => write_scalar(scalar, occ, out),
                None => {
                    out.extend_from_slice(default_scalar(scalar));
                    Ok(())
                }
            },
            Special::Plain
            | Special::Empty
            | Special::Value
            | Special::Struct
            | Special::ListValue => Err(Declined("not special")),
        }
    }
}

fn special_of(message: &MessageDescriptor) -> (Special, bool) {
    match message.full_name() {
        "google.protobuf.Timestamp" => (Special::Timestamp, true),
        "google.protobuf.Duration" => (Special::Duration, true),
        "google.protobuf.FieldMask" => (Special::FieldMask, true),
        "google.protobuf.Empty" => (Special::Empty, true),
        "google.protobuf.DoubleValue" => (Special::Wrapper(Scalar::Double), true),
        "google.protobuf.FloatValue" => (Special::Wrapper(Scalar::Float), true),
        "google.protobuf.Int64Value" => (Special::Wrapper(Scalar::Int64), true),
        "google.protobuf.UInt64Value" => (Special::Wrapper(Scalar::Uint64), true),
        "google.protobuf.Int32Value" => (Special::Wrapper(Scalar::Int32), true),
        "google.protobuf.UInt32Value" => (Special::Wrapper(Scalar::Uint32), true),
        "google.protobuf.BoolValue" => (Special::Wrapper(Scalar::Bool), true),
        "google.protobuf.StringValue" => (Special::Wrapper(Scalar::String), true),
        "google.protobuf.BytesValue" => (Special::Wrapper(Scalar::Bytes), true),
        "google.protobuf.Value" => (Special::Value, true),
        "google.protobuf.Struct" => (Special::Struct, true),
        "google.protobuf.ListValue" => (Special::ListValue, true),
        // Its JSON form depends on the type URL.
        "google.protobuf.Any" => (Special::Plain, false),
        _ => (Special::Plain, true),
    }
}

fn scalar_of(kind: &Kind) -> Scalar {
    match kind {
        Kind::Double => Scalar::Double,
        Kind::Float => Scalar::Float,
        Kind::Int32 => Scalar::Int32,
        Kind::Int64 => Scalar::Int64,
        Kind::Uint32 => Scalar::Uint32,
        Kind::Uint64 => Scalar::Uint64,
        Kind::Sint32 => Scalar::Sint32,
        Kind::Sint64 => Scalar::Sint64,
        Kind::Fixed32 => Scalar::Fixed32,
        Kind::Fixed64 => Scalar::Fixed64,
        Kind::Sfixed32 => Scalar::Sfixed32,
        Kind::Sfixed64 => Scalar::Sfixed64,
        Kind::Bool => Scalar::Bool,
        Kind::String => Scalar::String,
        Kind::Bytes | Kind::Message(_) | Kind::Enum(_) => Scalar::Bytes,
    }
}

fn default_scalar(scalar: Scalar) -> &'static [u8] {
    match scalar {
        Scalar::Double | Scalar::Float => b"0.0",
        Scalar::Int64 | Scalar::Uint64 | Scalar::Sint64 | Scalar::Fixed64 | Scalar::Sfixed64 => {
            b"\"0\""
        }
        Scalar::Bool => b"false",
        Scalar::String | Scalar::Bytes => b"\"\"",
        Scalar::Int32 | Scalar::Uint32 | Scalar::Sint32 | Scalar::Fixed32 | Scalar::Sfixed32 => {
            b"0"
        }
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
fn write_scalar(scalar: Scalar, occ: Occ<'_>, out: &mut Vec<u8>) -> Result<(), Declined> {
    let mismatch = Declined("wire type does not match the field");
    match (scalar, occ) {
        (Scalar::Int32, Occ::Varint(v)) => write_display(out, v as i32),
        (Scalar::Uint32, Occ::Varint(v)) => write_display(out, v as u32),
        (Scalar::Sint32, Occ::Varint(v)) => {
            let n = v as u32;
            write_display(out, ((n >> 1) as i32) ^ -((n & 1) as i32));
        }
        (Scalar::Int64, Occ::Varint(v)) => write_quoted(out, v as i64),
        (Scalar::Uint64, Occ::Varint(v)) => write_quoted(out, v),
        (Scalar::Sint64, Occ::Varint(v)) => {
            write_quoted(out, ((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        (Scalar::Bool, Occ::Varint(v)) => {
            out.extend_from_slice(if v != 0 { b"true" } else { b"false" })
        }
        (Scalar::Fixed32, Occ::Fixed32(v)) => write_display(out, v),
        (Scalar::Sfixed32, Occ::Fixed32(v)) => write_display(out, v as i32),
        (Scalar::Fixed64, Occ::Fixed64(v)) => write_quoted(out, v),
        (Scalar::Sfixed64, Occ::Fixed64(v)) => write_quoted(out, v as i64),
        (Scalar::Float, Occ::Fixed32(bits)) => {
            write_float(out, f64::from(f32::from_bits(bits)), true)?
        }
        (Scalar::Double, Occ::Fixed64(bits)) => write_float(out, f64::from_bits(bits), false)?,
        (Scalar::String, Occ::Len(bytes)) => {
            let text = std::str::from_utf8(bytes).map_err(|_| Declined("string is not UTF-8"))?;
            serde_json::to_writer(&mut *out, text).map_err(|_| Declined("write"))?;
        }
        (Scalar::Bytes, Occ::Len(bytes)) => {
            out.push(b'"');
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            out.extend_from_slice(encoded.as_bytes());
            out.push(b'"');
        }
        _ => return Err(mismatch),
    }
    Ok(())
}

fn write_float(out: &mut Vec<u8>, value: f64, single: bool) -> Result<(), Declined> {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if value == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else if single {
        // serde_json prints an f32 by its own shortest representation, as DynamicMessage does.
        #[allow(clippy::cast_possible_truncation)]
        serde_json::to_writer(&mut *out, &(value as f32)).map_err(|_| Declined("write"))?;
    } else {
        serde_json::to_writer(&mut *out, &value).map_err(|_| Declined("write"))?;
    }
    Ok(())
}

// Integers and timestamps are most of a list response; `itoa` and the digit writer below avoid
// the `fmt` machinery, which cost more than the rest of the transcoding.
fn write_display(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_quoted(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.push(b'"');
    write_display(out, value);
    out.push(b'"');
}

/// `"2024-05-01T10:00:00.500Z"` for a timestamp of years 1 to 9999 with nanos below 10⁹, exactly
/// as prost's `Timestamp` display (and so `DynamicMessage`) writes it: 0, 3, 6 or 9 fraction
/// digits.
fn write_timestamp(out: &mut Vec<u8>, seconds: i64, nanos: u32) {
    let days = seconds.div_euclid(86_400);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let second_of_day = seconds.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    out.push(b'"');
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, month, 2);
    out.push(b'-');
    push_digits(out, day, 2);
    out.push(b'T');
    push_digits(out, second_of_day / 3600, 2);
    out.push(b':');
    push_digits(out, second_of_day / 60 % 60, 2);
    out.push(b':');
    push_digits(out, second_of_day % 60, 2);
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(out, nanos / 1_000, 6);
        } else {
            push_digits(out, nanos, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), for days within years 1 to 9999.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

/// `value` in exactly `width` decimal digits, zero-padded (`value` must fit).
fn push_digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        #[allow(clippy::cast_possible_truncation)]
        let digit = (value % 10) as u8;
        *slot = b'0' + digit;
        value /= 10;
    }
}

fn quoted(text: &str) -> Box<[u8]> {
    serde_json::to_vec(text)
        .unwrap_or_default()
        .into_boxed_slice()
}

/// `user.display_name` → `user.displayName`, refusing paths that would not round-trip.
fn camel_case_path(path: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
    let refuse = Declined("field mask path does not round-trip through camelCase");
    let mut upper_next = false;
    for &b in path {
        match b {
            b'_' if !upper_next => upper_next = true,
            b'a'..=b'z' if upper_next => {
                out.push(b.to_ascii_uppercase());
                upper_next = false;
            }
            b'_' | b'A'..=b'Z' | b'"' | b'\\' => return Err(refuse),
            _ if upper_next => return Err(refuse),
            b if !(0x20..0x80).contains(&b) => return Err(refuse),
            b => out.push(b),
        }
    }
    if upper_next {
        return Err(refuse);
    }
    Ok(())
}

fn read_varint(buf: &mut &[u8]) -> Result<u64, Declined> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or(Declined("truncated varint"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(Declined("varint too long"))
}

fn take<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], Declined> {
    if buf.len() < N {
        return Err(Declined("truncated fixed-width value"));
    }
    let (head, rest) = buf.split_at(N);
    *buf = rest;
    head.try_into()
        .map_err(|_| Declined("truncated fixed-width value"))
}

fn read_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Occ<'a>), Declined> {
    let key = read_varint(buf)?;
    let number = u32::try_from(key >> 3).map_err(|_| Declined("field number too large"))?;
    if number == 0 {
        return Err(Declined("field number 0"));
    }
    let occ = match key & 7 {
        0 => Occ::Varint(read_varint(buf)?),
        1 => Occ::Fixed64(u64::from_le_bytes(take::<8>(buf)?)),
        2 => {
            let len =
                usize::try_from(read_varint(buf)?).map_err(|_| Declined("length too large"))?;
            if buf.len() < len {
                return Err(Declined("truncated length-delimited field"));
            }
            let (value, rest) = buf.split_at(len);
            *buf = rest;
            Occ::Len(value)
        }
        5 => Occ::Fixed32(u32::from_le_bytes(take::<4>(buf)?)),
        _ => return Err(Declined("groups and unknown wire types")),
    };
    Ok((number, occ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use prost_reflect::{
        DescriptorPool, DynamicMessage, MapKey, ReflectMessage as _, SerializeOptions, Value,
    };
    use rand::{Rng, SeedableRng};

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set")
    }

    fn reference_timestamp(seconds: i64, nanos: u32) -> String {
        let ts = prost_types::Timestamp {
            seconds,
            nanos: i32::try_from(nanos).expect("nanos"),
        };
        format!("\"{ts}\"")
    }

    fn fast_timestamp(seconds: i64, nanos: u32) -> String {
        let mut out = Vec::new();
        write_timestamp(&mut out, seconds, nanos);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn timestamps_are_written_as_prost_writes_them() {
        let edges = [
            (MIN_TIMESTAMP_SECONDS, 0),
            (MAX_TIMESTAMP_SECONDS, MAX_DURATION_NANOS),
            (-1, 999_999_999),
            (0, 0),
            (951_782_400, 500_000_000), // 2000-02-29
            (4_107_542_400, 1_000),     // 2100-03-01
            (1_714_557_600, 123_456_789),
        ];
        for (seconds, nanos) in edges {
            assert_eq!(
                fast_timestamp(seconds, nanos),
                reference_timestamp(seconds, nanos)
            );
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7157);
        for _ in 0..20_000 {
            let seconds = rng.gen_range(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS);
            let nanos = match rng.gen_range(0..4) {
                0 => 0,
                1 => rng.gen_range(0..1_000) * 1_000_000,
                2 => rng.gen_range(0..1_000_000) * 1_000,
                _ => rng.gen_range(0..=MAX_DURATION_NANOS),
            };
            assert_eq!(
                fast_timestamp(seconds, nanos),
                reference_timestamp(seconds, nanos),
                "{seconds}.{nanos}"
            );
        }
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        for value in [0i64, -1, 7, i64::MIN, i64::MAX, -1_234_567_890] {
            let mut out = Vec::new();
            write_display(&mut out, value);
            write_quoted(&mut out, value);
            assert_eq!(
                String::from_utf8(out).expect("ascii"),
                format!("{value}\"{value}\"")
            );
        }
        let mut out = Vec::new();
        write_display(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().into_bytes());
    }

    fn reference_json(message: &DynamicMessage) -> serde_json::Value {
        let options = SerializeOptions::new().skip_default_fields(false);
        message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .expect("reference serialization")
    }

    fn fast_json(plans: &JsonPlans, message: &DynamicMessage) -> serde_json::Value {
        let plan = plans.plan_for(&message.descriptor()).expect("covered");
        let mut out = Vec::new();
        plans
            .write(plan, &message.encode_to_vec(), &mut out)
            .expect("fast path");
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    /// A random value for `kind`, recursing into messages up to `depth`.
    fn random_value(rng: &mut rand::rngs::StdRng, kind: &Kind, depth: usize) -> Option<Value> {
        Some(match kind {
            Kind::Double => Value::F64(rng.gen_range(-1e9..1e9)),
            Kind::Float => Value::F32(rng.gen_range(-1e6f32..1e6)),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(rng.r#gen()),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(rng.r#gen()),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.r#gen()),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.r#gen()),
            Kind::Bool => Value::Bool(rng.r#gen()),
            Kind::String => {
                let samples = [
                    "",
                    "plain",
                    "quote \" and \\ slash",
                    "ünïcödé ✓",
                    "line\nbreak\t\u{1}",
                ];
                Value::String(samples[rng.gen_range(0..samples.len())].to_owned())
            }
            Kind::Bytes => Value::Bytes(
                (0..rng.gen_range(0..9))
                    .map(|_| rng.r#gen::<u8>())
                    .collect::<Vec<u8>>()
                    .into(),
            ),
            Kind::Enum(desc) => {
                let values: Vec<i32> = desc.values().map(|v| v.number()).collect();
                // Sometimes a number the enum does not define: written as a number.
                if rng.gen_bool(0.1) {
                    Value::EnumNumber(99)
                } else {
                    Value::EnumNumber(values[rng.gen_range(0..values.len())])
                }
            }
            Kind::Message(desc) => {
                if depth > 3 {
                    return None;
                }
                Value::Message(random_message(rng, desc, depth + 1))
            }
        })
    }

    fn random_message(
        rng: &mut rand::rngs::StdRng,
        desc: &MessageDescriptor,
        depth: usize,
    ) -> DynamicMessage {
        let mut message = DynamicMessage::new(desc.clone());
        match desc.full_name() {
            "google.protobuf.Timestamp" => {
                message.set_field_by_name("seconds", Value::I64(rng.gen_range(0..4_000_000_000)));
                let nanos = [0, 500_000_000, 123_000, 1, 999_999_999][rng.gen_range(0..5)];
                message.set_field_by_name("nanos", Value::I32(nanos));
                return message;
            }
            "google.protobuf.Duration" => {
                message.set_field_by_name("seconds", Value::I64(rng.gen_range(-1000..1000)));
                return message;
            }
            "google.protobuf.FieldMask" => {
                message.set_field_by_name(
                    "paths",
                    Value::List(vec![
                        Value::String("display_name".into()),
                        Value::String("settings.time_zone".into()),
                    ]),
                );
                return message;
            }
            _ => {}
        }
        for field in desc.fields() {
            if rng.gen_bool(0.3) {
                continue;
            }
            if let (true, Kind::Message(entry)) = (field.is_map(), field.kind()) {
                let value_kind = entry.map_entry_value_field().kind();
                let mut map = std::collections::HashMap::new();
                for i in 0..rng.gen_range(0..4) {
                    let key = random_map_key(&entry.map_entry_key_field().kind(), i);
                    if let Some(value) = random_value(rng, &value_kind, depth) {
                        map.insert(key, value);
                    }
                }
                message.set_field(&field, Value::Map(map));
            } else if field.is_list() {
                let items: Vec<Value> = (0..rng.gen_range(0..4))
                    .filter_map(|_| random_value(rng, &field.kind(), depth))
                    .collect();
                message.set_field(&field, Value::List(items));
            } else if let Some(value) = random_value(rng, &field.kind(), depth) {
                message.set_field(&field, value);
            }
        }
        message
    }

    fn random_map_key(kind: &Kind, i: i32) -> MapKey {
        match kind {
            Kind::Bool => MapKey::Bool(i % 2 == 0),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(i - 1),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(i64::from(i) - 1),
            Kind::Uint32 | Kind::Fixed32 => MapKey::U32(i.unsigned_abs()),
            Kind::Uint64 | Kind::Fixed64 => MapKey::U64(u64::from(i.unsigned_abs())),
            _ => MapKey::String(["", "region", "quote\"d", "ünï"][(i % 4) as usize].to_owned()),
        }
    }

    #[test]
    fn output_equals_dynamic_message_serialization_for_every_covered_message() {
        let pool = pool();
        let plans = JsonPlans::new(pool.all_messages());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut covered = 0;
        for desc in pool.all_messages() {
            if plans.plan_for(&desc).is_none() {
                continue;
            }
            covered += 1;
            for _ in 0..20 {
                let message = random_message(&mut rng, &desc, 0);
                assert_eq!(
                    fast_json(&plans, &message),
                    reference_json(&message),
                    "{}",
                    desc.full_name()
                );
            }
        }
        assert!(covered > 30, "only {covered} message types covered");
    }

    #[test]
    fn users_lists_are_covered_and_unsupported_shapes_are_declined() {
        let pool = pool();
        let plans = JsonPlans::new(pool.all_messages());
        let list = pool
            .get_message_by_name("salescompass.tenants.v1.ListUsersResponse")
            .expect("message");
        assert!(plans.plan_for(&list).is_some());
        let any = pool.get_message_by_name("google.protobuf.Any");
        if let Some(any) = any {
            assert!(plans.plan_for(&any).is_none());
        }
        let plan = plans.plan_for(&list).expect("plan");
        let mut out = b"prefix".to_vec();
        assert!(
            plans.write(plan, &[0x0a, 0x05, 0x01], &mut out).is_err(),
            "truncated input"
        );
        assert_eq!(out, b"prefix", "output untouched on refusal");
    }

    #[test]
    fn packed_and_unpacked_repeated_scalars_and_out_of_order_fields_are_read() {
        let pool = pool();
        let plans = JsonPlans::new(pool.all_messages());
        let user = pool
            .get_message_by_name("salescompass.tenants.v1.User")
            .expect("user");
        let plan = plans.plan_for(&user).expect("plan");
        // display_name (4) before id (1), custom_role_ids (6) split in two occurrences.
        let bytes = [
            0x22, 0x02, b'B', b'o', 0x0a, 0x02, b'u', b'1', 0x32, 0x01, b'a', 0x32, 0x01, b'b',
            0x0a, 0x02, b'u', b'2',
        ];
        let mut out = Vec::new();
        plans.write(plan, &bytes, &mut out).expect("written");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(json["id"], "u2", "last occurrence wins");
        assert_eq!(json["displayName"], "Bo");
        assert_eq!(json["customRoleIds"], serde_json::json!(["a", "b"]));
        assert_eq!(json["role"], "ROLE_UNSPECIFIED");
        assert_eq!(json["active"], false);
    }

    #[test]
    fn records_with_custom_fields_are_covered_with_every_kind_of_value() {
        let pool = pool();
        let plans = JsonPlans::new(pool.all_messages());
        let desc = pool
            .get_message_by_name("salescompass.crm.v1.Lead")
            .expect("lead");
        assert!(
            plans.plan_for(&desc).is_some(),
            "maps of Values are covered"
        );
        let custom = serde_json::json!({
            "plan": "gold", "seats": 12.5, "vip": true, "churned": null,
            "tags": ["a", 1.0, false, null, {"deep": [[]]}], "address": {"city": "Köln"},
        });
        let lead: DynamicMessage = DynamicMessage::deserialize(
            desc.clone(),
            serde_json::json!({"id": "l1", "lastName": "Lee", "customFields": custom}),
        )
        .expect("lead from JSON");
        let json = fast_json(&plans, &lead);
        assert_eq!(json, reference_json(&lead));
        assert_eq!(json["customFields"], custom);
    }

    #[test]
    fn a_map_key_sent_twice_is_declined() {
        let pool = pool();
        let plans = JsonPlans::new(pool.all_messages());
        let desc = pool
            .get_message_by_name("salescompass.crm.v1.Lead")
            .expect("lead");
        let plan = plans.plan_for(&desc).expect("plan");
        // Two custom_fields (21) entries with key "k": string values "a", then "b".
        let entry = |v: u8| {
            [
                0xaa, 0x01, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x1a, 0x01, v,
            ]
        };
        let mut bytes = entry(b'a').to_vec();
        bytes.extend_from_slice(&entry(b'b'));
        let mut out = Vec::new();
        assert!(plans.write(plan, &bytes, &mut out).is_err());
        // One entry is fine.
        plans
            .write(plan, &entry(b'a'), &mut out)
            .expect("one entry");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(json["customFields"], serde_json::json!({"k": "a"}));
    }
}
