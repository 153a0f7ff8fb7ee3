//! REST ↔ gRPC message transcoding: the request message from body, path variables and query
//! string; the JSON body from the response message. JSON follows the proto3 canonical mapping.

use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
    Value,
};
use serde::Serialize as _;

use crate::error::Error;
use crate::field_value;
use crate::path_template::Bindings;
use crate::routes::{BodyRule, Route};
use crate::wire_json::JsonPlans;

/// Responses include fields at their default value so clients see `"active": false` and
/// `"nextPageToken": ""` rather than missing keys (grpc-gateway's `EmitUnpopulated`).
const SERIALIZE: SerializeOptions = SerializeOptions::new().skip_default_fields(false);
const DESERIALIZE: DeserializeOptions = DeserializeOptions::new().deny_unknown_fields(true);

/// Builds the gRPC request of `route` from the parts of an HTTP request.
pub fn request_message(
    route: &Route,
    bindings: Bindings,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, Error> {
    let input = route.rpc.input();
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let mut message = match &route.body {
        BodyRule::None => DynamicMessage::new(input.clone()),
        BodyRule::Whole if has_body => parse_json(&input, body)?,
        BodyRule::Whole => DynamicMessage::new(input.clone()),
        BodyRule::Field(field) => {
            let mut message = DynamicMessage::new(input.clone());
            if has_body {
                set_body_field(&mut message, field, body)?;
            }
            message
        }
    };
    if matches!(route.body, BodyRule::None) && has_body {
        return Err(Error::bad_request(format!(
            "{} {} takes no request body",
            route.http_method, route.template
        )));
    }
    let bound: Vec<Vec<String>> = bindings.iter().map(|(path, _)| path.clone()).collect();
    for (path, value) in bindings {
        let name = path.join(".");
        let fields = field_value::resolve(&input, &name)
            .ok_or_else(|| Error::Internal(format!("unresolvable path variable {name}")))?;
        field_value::set_from_text(&mut message, &fields, &value, &name)?;
    }
    if let Some(query) = query {
        apply_query(&mut message, route, &bound, query)?;
    }
    Ok(message)
}

fn parse_json(desc: &MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let message =
        DynamicMessage::deserialize_with_options(desc.clone(), &mut deserializer, &DESERIALIZE)
            .map_err(json_error)?;
    deserializer.end().map_err(json_error)?;
    Ok(message)
}

fn json_error(error: serde_json::Error) -> Error {
    Error::bad_request(format!("invalid JSON body: {error}"))
}

/// `body: "user"`: the HTTP body is the value of that one field.
fn set_body_field(
    message: &mut DynamicMessage,
    field: &FieldDescriptor,
    body: &[u8],
) -> Result<(), Error> {
    let value = match field.kind() {
        Kind::Message(desc) if !field.is_list() && !field.is_map() => {
            Value::Message(parse_json(&desc, body)?)
        }
        _ => {
            // Scalars and lists: let the JSON mapping parse them as the field of a wrapper.
            let wrapper = parse_json(field.parent_message(), &wrap(field, body))?;
            wrapper.get_field(field).into_owned()
        }
    };
    message
        .try_set_field(field, value)
        .map_err(|e| Error::bad_field(field.json_name(), e.to_string()))
}

fn wrap(field: &FieldDescriptor, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + field.json_name().len() + 6);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(field.json_name().as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(body);
    out.push(b'}');
    out
}

/// Query parameters fill the fields not bound by the path or the body, by proto or JSON name,
/// dotted for nested fields; a repeated field takes one parameter per element.
fn apply_query(
    message: &mut DynamicMessage,
    route: &Route,
    bound: &[Vec<String>],
    query: &str,
) -> Result<(), Error> {
    let input = route.rpc.input();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if matches!(route.body, BodyRule::Whole) {
            return Err(Error::bad_field(
                name.as_ref(),
                "unknown query parameter; this method takes its fields in the JSON body",
            ));
        }
        let fields = field_value::resolve(&input, &name)
            .ok_or_else(|| Error::bad_field(name.as_ref(), "unknown query parameter"))?;
        let proto_path: Vec<String> = fields.iter().map(|f| f.name().to_owned()).collect();
        if bound.contains(&proto_path) {
            return Err(Error::bad_field(
                name.as_ref(),
                "already set by the URL path",
            ));
        }
        if let BodyRule::Field(body_field) = &route.body
            && fields.first() == Some(body_field)
        {
            return Err(Error::bad_field(name.as_ref(), "belongs in the JSON body"));
        }
        field_value::set_from_text(message, &fields, &value, &name)?;
    }
    Ok(())
}

/// The JSON body of a successful response, from its encoded form: straight from the wire when
/// the route has a plan, through `DynamicMessage` otherwise (or when the plan declines).
pub fn response_json(route: &Route, plans: &JsonPlans, encoded: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(encoded.len() * 2 + 64);
    if let (Some(plan), None) = (route.json_plan, &route.response_body) {
        match plans.write(plan, encoded, &mut out) {
            Ok(()) => return Ok(out),
            Err(declined) => tracing::debug!(%declined, route = %route.template, "slow JSON path"),
        }
    }
    let message = DynamicMessage::decode(route.rpc.output(), encoded)
        .map_err(|e| Error::Internal(format!("undecodable upstream response: {e}")))?;
    message_json(route, &message, out)
}

/// One message of a server stream as JSON (the slow path: stream messages are few and the fast
/// plans are owned by the route table, which a response stream cannot borrow).
pub fn stream_message_json(route: &Route, encoded: &[u8]) -> Result<Vec<u8>, Error> {
    let message = DynamicMessage::decode(route.rpc.output(), encoded)
        .map_err(|e| Error::Internal(format!("undecodable upstream message: {e}")))?;
    message_json(route, &message, Vec::with_capacity(encoded.len() * 2 + 64))
}

fn message_json(
    route: &Route,
    message: &DynamicMessage,
    mut out: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let mut serializer = serde_json::Serializer::new(&mut out);
    let result = match &route.response_body {
        None => message.serialize_with_options(&mut serializer, &SERIALIZE),
        Some(field) => match message.get_field(field).as_ref() {
            Value::Message(inner) if !field.is_list() => {
                inner.serialize_with_options(&mut serializer, &SERIALIZE)
            }
            _ => {
                // Rare case (scalar or repeated response_body): serialize the message and take
                // the one member.
                let whole = message
                    .serialize_with_options(serde_json::value::Serializer, &SERIALIZE)
                    .map_err(|e| Error::Internal(format!("serialize response: {e}")))?;
                let member = whole
                    .get(field.json_name())
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                member.serialize(&mut serializer)
            }
        },
    };
    result.map_err(|e| Error::Internal(format!("serialize response: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Lookup, RouteTable};
    use http::Method;
    use prost::Message as _;
    use prost_reflect::DescriptorPool;
    use serde_json::json;

    fn table() -> RouteTable {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        RouteTable::from_pool(&pool).expect("routes")
    }

    fn transcode(
        method: Method,
        path: &str,
        query: Option<&str>,
        body: &str,
    ) -> Result<serde_json::Value, Error> {
        let table = table();
        let Lookup::Found(route, bindings) = table.lookup(&method, path) else {
            panic!("no route for {method} {path}");
        };
        let message = request_message(route, bindings, query, body.as_bytes())?;
        // Read the request back in proto field names to see exactly what the service gets.
        let options = SerializeOptions::new().use_proto_field_name(true);
        Ok(message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .expect("serializable"))
    }

    #[test]
    fn whole_body_is_parsed_with_json_and_proto_names() {
        let body = r#"{"tenant":{"slug":"acme","displayName":"Acme"},
                       "admin":{"email":"a@acme.test","password":"pw","display_name":"Ann"}}"#;
        let request = transcode(Method::POST, "/v1/tenants:provision", None, body).expect("valid");
        assert_eq!(request["tenant"]["display_name"], "Acme");
        assert_eq!(request["admin"]["display_name"], "Ann");
    }

    #[test]
    fn list_query_parameters_accept_both_spellings() {
        let request = transcode(
            Method::GET,
            "/v1/users",
            Some("pageSize=50&page_token=abc&filter=role%20%3D%20ROLE_ADMIN&orderBy=email+desc"),
            "",
        )
        .expect("valid");
        assert_eq!(request["page_size"], 50);
        assert_eq!(request["page_token"], "abc");
        assert_eq!(request["filter"], "role = ROLE_ADMIN");
        assert_eq!(request["order_by"], "email desc");
    }

    #[test]
    fn path_variables_bind_nested_fields_and_body_fields_take_the_body() {
        let request = transcode(
            Method::PATCH,
            "/v1/users/u-1",
            Some("updateMask=displayName,role"),
            r#"{"displayName":"Bo","role":"ROLE_MANAGER","customRoleIds":["r1","r2"]}"#,
        )
        .expect("valid");
        assert_eq!(request["user"]["id"], "u-1");
        assert_eq!(request["user"]["display_name"], "Bo");
        assert_eq!(request["user"]["role"], "ROLE_MANAGER");
        assert_eq!(request["user"]["custom_role_ids"], json!(["r1", "r2"]));
        assert_eq!(request["update_mask"], "displayName,role");
    }

    #[test]
    fn path_values_win_over_the_body() {
        let request = transcode(
            Method::POST,
            "/v1/tenants/t-path:suspend",
            None,
            r#"{"id":"t-body","reason":"unpaid"}"#,
        )
        .expect("valid");
        assert_eq!(request["id"], "t-path");
        assert_eq!(request["reason"], "unpaid");
    }

    #[test]
    fn bad_bodies_are_refused_naming_the_problem() {
        let unknown = transcode(Method::POST, "/v1/users", None, r#"{"emial":"x"}"#)
            .expect_err("unknown field");
        assert!(
            unknown
                .to_string()
                .contains("unrecognized field name 'emial'"),
            "{unknown}"
        );

        let malformed =
            transcode(Method::POST, "/v1/users", None, r#"{"email": }"#).expect_err("malformed");
        assert!(
            malformed.to_string().contains("invalid JSON body"),
            "{malformed}"
        );
        assert!(malformed.to_string().contains("column"), "{malformed}");

        let trailing =
            transcode(Method::POST, "/v1/users", None, r#"{} {}"#).expect_err("trailing");
        assert!(trailing.to_string().contains("trailing"), "{trailing}");

        let wrong_type =
            transcode(Method::POST, "/v1/users", None, r#"{"role": true}"#).expect_err("type");
        assert!(
            wrong_type.to_string().contains("invalid JSON body"),
            "{wrong_type}"
        );

        let bad_enum = transcode(Method::POST, "/v1/users", None, r#"{"role":"ROLE_KING"}"#)
            .expect_err("enum");
        assert!(bad_enum.to_string().contains("ROLE_KING"), "{bad_enum}");
    }

    #[test]
    fn query_parameters_are_checked() {
        let unknown =
            transcode(Method::GET, "/v1/users", Some("colour=red"), "").expect_err("unknown");
        assert!(unknown.to_string().contains("colour"), "{unknown}");

        let bad_int =
            transcode(Method::GET, "/v1/users", Some("pageSize=many"), "").expect_err("int");
        assert!(bad_int.to_string().contains("pageSize"), "{bad_int}");

        let bound =
            transcode(Method::GET, "/v1/users/u1", Some("id=u2"), "").expect_err("bound by path");
        assert!(bound.to_string().contains("path"), "{bound}");

        let star = transcode(Method::POST, "/v1/users", Some("email=x"), "{}").expect_err("star");
        assert!(star.to_string().contains("body"), "{star}");

        let body = transcode(Method::PATCH, "/v1/users/u1", Some("user.email=x"), "{}")
            .expect_err("body field");
        assert!(body.to_string().contains("body"), "{body}");

        let get_body = transcode(Method::GET, "/v1/users", None, r#"{"x":1}"#).expect_err("body");
        assert!(
            get_body.to_string().contains("no request body"),
            "{get_body}"
        );
    }

    #[test]
    fn empty_bodies_are_empty_messages() {
        let request = transcode(Method::POST, "/v1/tenants/t1:reactivate", None, "").expect("ok");
        assert_eq!(request["id"], "t1");
    }

    #[test]
    fn responses_use_json_names_enum_names_string_int64_and_rfc3339() {
        let table = table();
        let Lookup::Found(route, _) = table.lookup(&Method::POST, "/v1/auth:login") else {
            panic!("login route");
        };
        let mut login = DynamicMessage::new(route.rpc.output());
        login
            .try_set_field_by_name("access_token", Value::String("jwt".to_owned()))
            .expect("field");
        login
            .try_set_field_by_name("expires_in", Value::I64(900))
            .expect("field");
        let body: serde_json::Value = serde_json::from_slice(
            &response_json(route, table.json_plans(), &login.encode_to_vec()).expect("json"),
        )
        .expect("parse");
        assert_eq!(
            body,
            json!({"accessToken":"jwt","refreshToken":"","expiresIn":"900","tokenType":""})
        );

        let Lookup::Found(route, _) = table.lookup(&Method::GET, "/v1/users/u1") else {
            panic!("get user route");
        };
        let user = DynamicMessage::deserialize(
            route.rpc.output(),
            json!({"id":"u1","role":2,"createTime":"2024-05-01T10:00:00.5Z"}),
        )
        .expect("user");
        let encoded = user.encode_to_vec();
        let body: serde_json::Value = serde_json::from_slice(
            &response_json(route, table.json_plans(), &encoded).expect("json"),
        )
        .expect("parse");
        let slow = message_json(route, &user, Vec::new()).expect("slow path");
        assert_eq!(
            body,
            serde_json::from_slice::<serde_json::Value>(&slow).expect("parse"),
            "fast and slow paths agree"
        );
        assert_eq!(body["role"], "ROLE_MANAGER");
        assert_eq!(body["createTime"], "2024-05-01T10:00:00.500Z");
        assert_eq!(body["active"], false);
        assert_eq!(body["customRoleIds"], json!([]));
        assert!(
            body.get("updateTime").is_none(),
            "unset messages stay absent"
        );
    }

    #[test]
    fn field_masks_round_trip_as_comma_separated_camel_case() {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("pool");
        let update = pool
            .get_message_by_name("salescompass.tenants.v1.UpdateUserRequest")
            .expect("message");
        let message = parse_json(
            &update,
            br#"{"user":{"id":"u1"},"updateMask":"displayName,managerId"}"#,
        )
        .expect("parse");
        let mask = message.get_field_by_name("update_mask").expect("mask");
        let paths = mask
            .as_message()
            .and_then(|m| m.get_field_by_name("paths"))
            .and_then(|p| p.as_list().map(<[Value]>::to_vec))
            .expect("paths");
        assert_eq!(
            paths,
            vec![
                Value::String("display_name".to_owned()),
                Value::String("manager_id".to_owned())
            ]
        );
        let back = message
            .serialize_with_options(serde_json::value::Serializer, &SERIALIZE)
            .expect("serialize");
        assert_eq!(back["updateMask"], "displayName,managerId");
    }
}
