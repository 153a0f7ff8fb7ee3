//! Setting request fields from text: path variables and query parameters arrive as strings and
//! are parsed by the field's proto type (the same rules as the proto3 JSON mapping).

use base64::Engine as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::error::Error;

const FIELD_MASK: &str = "google.protobuf.FieldMask";

/// Wrapper and string-encoded well-known types that may be set from one string.
const STRING_ENCODED_WKT: &[&str] = &["google.protobuf.Timestamp", "google.protobuf.Duration"];

/// Resolves a dotted parameter name, accepting proto (`page_size`) and JSON (`pageSize`) names.
pub fn resolve(message: &MessageDescriptor, dotted: &str) -> Option<Vec<FieldDescriptor>> {
    let mut current = message.clone();
    let mut fields = Vec::new();
    let mut segments = dotted.split('.').peekable();
    while let Some(segment) = segments.next() {
        let field = current
            .get_field_by_json_name(segment)
            .or_else(|| current.get_field_by_name(segment))?;
        if segments.peek().is_some() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
                _ => return None,
            }
        }
        fields.push(field);
    }
    Some(fields)
}

/// Parses `text` for `field` and stores it in `message` at `path`: appended for repeated fields,
/// replacing otherwise. `name` is how the client spelled the field, for error messages.
pub fn set_from_text(
    message: &mut DynamicMessage,
    path: &[FieldDescriptor],
    text: &str,
    name: &str,
) -> Result<(), Error> {
    let Some((leaf, parents)) = path.split_last() else {
        return Err(Error::bad_field(name, "empty field path"));
    };
    if leaf.is_map() {
        return Err(Error::bad_field(
            name,
            "map fields cannot be set from the URL",
        ));
    }
    let value = parse_value(&leaf.kind(), text).map_err(|reason| Error::bad_field(name, reason))?;
    let mut target = message;
    for parent in parents {
        target = match target.get_field_mut(parent) {
            Value::Message(inner) => inner,
            _ => return Err(Error::bad_field(name, "not a message field")),
        };
    }
    if leaf.is_list() {
        match target.get_field_mut(leaf) {
            Value::List(values) => values.push(value),
            _ => return Err(Error::bad_field(name, "not a repeated field")),
        }
        return Ok(());
    }
    target
        .try_set_field(leaf, value)
        .map_err(|e| Error::bad_field(name, e.to_string()))
}

/// Parses one value of `kind` from text.
pub fn parse_value(kind: &Kind, text: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("`{text}` is not {what}");
    Ok(match kind {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad("a boolean (true or false)")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(text.parse().map_err(|_| bad("a 32-bit integer"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(text.parse().map_err(|_| bad("a 64-bit integer"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(
            text.parse()
                .map_err(|_| bad("an unsigned 32-bit integer"))?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(
            text.parse()
                .map_err(|_| bad("an unsigned 64-bit integer"))?,
        ),
        Kind::Double => Value::F64(parse_float(text).ok_or_else(|| bad("a number"))?),
        Kind::Float => {
            // Narrowing is the proto3 JSON rule for float fields.
            #[allow(clippy::cast_possible_truncation)]
            Value::F32(parse_float(text).ok_or_else(|| bad("a number"))? as f32)
        }
        Kind::Bytes => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| bad("base64"))?
                .into(),
        ),
        Kind::Enum(enum_desc) => {
            if let Some(value) = enum_desc.get_value_by_name(text) {
                Value::EnumNumber(value.number())
            } else if let Some(value) = text
                .parse::<i32>()
                .ok()
                .and_then(|n| enum_desc.get_value(n))
            {
                Value::EnumNumber(value.number())
            } else {
                let names: Vec<String> = enum_desc.values().map(|v| v.name().to_owned()).collect();
                return Err(format!("`{text}` is not one of {}", names.join(", ")));
            }
        }
        Kind::Message(desc) => Value::Message(parse_message(desc, text)?),
    })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok().filter(|f: &f64| f.is_finite()),
    }
}

/// Well-known types with a string JSON form (Timestamp, Duration, FieldMask) and wrappers.
fn parse_message(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    let name = desc.full_name();
    if name == FIELD_MASK {
        return parse_field_mask(desc, text);
    }
    if STRING_ENCODED_WKT.contains(&name) {
        return DynamicMessage::deserialize(desc.clone(), serde_json::Value::String(text.into()))
            .map_err(|e| format!("`{text}` is not a valid {}: {e}", desc.name()));
    }
    if name.starts_with("google.protobuf.")
        && name.ends_with("Value")
        && let Some(inner) = desc.get_field_by_name("value")
    {
        let mut message = DynamicMessage::new(desc.clone());
        let value = parse_value(&inner.kind(), text)?;
        message
            .try_set_field(&inner, value)
            .map_err(|e| e.to_string())?;
        return Ok(message);
    }
    Err(format!(
        "message `{}` cannot be set from one value; set its fields as `name.field`",
        desc.name()
    ))
}

/// A field mask in the URL: comma-separated paths in JSON (`displayName`) or proto
/// (`display_name`) spelling, as grpc-gateway accepts both there.
fn parse_field_mask(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    let paths_field = desc
        .get_field_by_name("paths")
        .ok_or_else(|| "field mask without paths".to_owned())?;
    let mut paths = Vec::new();
    for path in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(format!("`{path}` is not a field path"));
        }
        paths.push(Value::String(to_snake_case(path)));
    }
    let mut mask = DynamicMessage::new(desc.clone());
    mask.try_set_field(&paths_field, Value::List(paths))
        .map_err(|e| e.to_string())?;
    Ok(mask)
}

fn to_snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set")
    }

    fn message(name: &str) -> MessageDescriptor {
        pool().get_message_by_name(name).expect("message")
    }

    #[test]
    fn names_resolve_in_snake_case_and_lower_camel_case() {
        let list = message("salescompass.tenants.v1.ListUsersRequest");
        for name in ["pageSize", "page_size"] {
            let path = resolve(&list, name).expect("resolves");
            assert_eq!(path[0].name(), "page_size");
        }
        assert!(resolve(&list, "page-size").is_none());

        let update = message("salescompass.tenants.v1.UpdateUserRequest");
        let path = resolve(&update, "user.displayName").expect("nested");
        assert_eq!(
            path.iter().map(FieldDescriptor::name).collect::<Vec<_>>(),
            ["user", "display_name"]
        );
        assert!(resolve(&update, "updateMask.paths.x").is_none());
    }

    #[test]
    fn scalars_enums_and_repeated_values_are_set_from_text() {
        let desc = message("salescompass.tenants.v1.User");
        let mut user = DynamicMessage::new(desc.clone());
        let role = resolve(&desc, "role").expect("role");
        set_from_text(&mut user, &role, "ROLE_MANAGER", "role").expect("by name");
        assert_eq!(
            user.get_field_by_name("role")
                .expect("role")
                .as_enum_number(),
            Some(2)
        );
        set_from_text(&mut user, &role, "3", "role").expect("by number");
        assert_eq!(
            user.get_field_by_name("role")
                .expect("role")
                .as_enum_number(),
            Some(3)
        );
        let err = set_from_text(&mut user, &role, "ROLE_KING", "role").expect_err("unknown");
        assert!(err.to_string().contains("ROLE_ADMIN"), "{err}");

        let ids = resolve(&desc, "customRoleIds").expect("repeated");
        set_from_text(&mut user, &ids, "a", "customRoleIds").expect("first");
        set_from_text(&mut user, &ids, "b", "customRoleIds").expect("second");
        let list = user.get_field_by_name("custom_role_ids").expect("ids");
        assert_eq!(list.as_list().map(<[Value]>::len), Some(2));

        let active = resolve(&desc, "active").expect("bool");
        let err = set_from_text(&mut user, &active, "yes", "active").expect_err("not bool");
        assert!(err.to_string().contains("active"), "{err}");
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(parse_value(&Kind::Int32, "-5"), Ok(Value::I32(-5)));
        assert!(parse_value(&Kind::Int32, "3000000000").is_err());
        assert_eq!(
            parse_value(&Kind::Int64, "9007199254740993"),
            Ok(Value::I64(9_007_199_254_740_993))
        );
        assert!(parse_value(&Kind::Uint64, "-1").is_err());
        assert!(parse_value(&Kind::Double, "abc").is_err());
        assert!(matches!(parse_value(&Kind::Double, "NaN"), Ok(Value::F64(f)) if f.is_nan()));
    }

    #[test]
    fn string_encoded_well_known_types_parse_from_text() {
        let pool = pool();
        let ts = pool
            .get_message_by_name("google.protobuf.Timestamp")
            .expect("timestamp");
        let value = parse_value(&Kind::Message(ts.clone()), "2024-05-01T10:00:00Z").expect("ts");
        let seconds = value
            .as_message()
            .and_then(|m| m.get_field_by_name("seconds"))
            .and_then(|v| v.as_i64());
        assert_eq!(seconds, Some(1_714_557_600));
        assert!(parse_value(&Kind::Message(ts), "yesterday").is_err());

        let mask = pool
            .get_message_by_name("google.protobuf.FieldMask")
            .expect("mask");
        let snake = parse_value(&Kind::Message(mask.clone()), "display_name, manager_id")
            .expect("proto spelling");
        let value =
            parse_value(&Kind::Message(mask.clone()), "displayName,managerId").expect("mask");
        assert_eq!(snake, value, "both spellings give the same mask");
        assert!(parse_value(&Kind::Message(mask), "display name").is_err());
        let paths = value
            .as_message()
            .and_then(|m| m.get_field_by_name("paths"))
            .and_then(|v| v.as_list().map(<[Value]>::to_vec))
            .expect("paths");
        assert_eq!(
            paths,
            vec![
                Value::String("display_name".to_owned()),
                Value::String("manager_id".to_owned())
            ]
        );
    }
}
