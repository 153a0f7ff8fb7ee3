//! The OpenAPI 3.1 document, generated from the same descriptors and routes the gateway serves:
//! schemas from messages, comments as descriptions, field behaviors as `required`/`readOnly`.

use std::collections::{BTreeMap, HashMap, HashSet};

use prost_reflect::{
    DescriptorPool, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, Value,
};
use serde_json::{Map, Value as Json, json};

use crate::routes::{BodyRule, Route, RouteTable};

const FIELD_BEHAVIOR: &str = "google.api.field_behavior";
const BEHAVIOR_REQUIRED: i32 = 2;
const BEHAVIOR_OUTPUT_ONLY: i32 = 3;
/// Nested request fields offered as query parameters up to this depth (`a.b.c`).
const MAX_QUERY_DEPTH: usize = 3;
/// Error statuses every operation may answer, all as problem+json.
const ERROR_RESPONSES: &[(&str, &str)] = &[
    ("400", "The request is malformed or a field is invalid."),
    ("401", "The bearer token is missing, expired or invalid."),
    ("403", "The caller lacks the permission this method needs."),
    ("404", "The resource does not exist in the caller's tenant."),
    (
        "409",
        "The resource already exists or changed concurrently.",
    ),
    (
        "413",
        "The request body is larger than the gateway accepts.",
    ),
    ("415", "The request body is not application/json."),
    (
        "429",
        "A rate limit was hit; retry after `Retry-After` seconds.",
    ),
    (
        "503",
        "The service is unavailable; retry after `Retry-After` seconds.",
    ),
    ("504", "The service did not answer within the deadline."),
];

/// Builds the document for every route.
pub fn document(routes: &RouteTable, pool: &DescriptorPool) -> Json {
    let mut generator = Generator {
        comments: Comments::default(),
        behavior: pool.get_extension_by_name(FIELD_BEHAVIOR),
        schemas: BTreeMap::new(),
        pending: Vec::new(),
    };
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut tags: BTreeMap<String, Json> = BTreeMap::new();
    let mut operation_ids: HashMap<String, usize> = HashMap::new();
    let mut shapes: HashMap<String, (String, Vec<String>)> = HashMap::new();
    let mut operations: Vec<OperationRef> = Vec::new();
    for route in routes.iter() {
        let service = route.rpc.parent_service();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            let mut tag = json!({ "name": service.name() });
            if let Some(text) = generator
                .comments
                .of(&service.parent_file(), service.path())
            {
                tag["description"] = Json::String(text);
            }
            tag
        });
        let base_id = format!("{}_{}", service.name(), route.rpc.name());
        let seen = operation_ids.entry(base_id.clone()).or_insert(0);
        *seen += 1;
        let operation_id = if *seen == 1 {
            base_id
        } else {
            format!("{base_id}_{seen}")
        };
        // Path parameters get plain names (`{rule.id}` is `{id}`, as on every other route): tools
        // that expand URL templates read a dot as attribute access. OpenAPI forbids two paths that
        // differ only in parameter names, so the first route of a shape names its parameters.
        let own_names = plain_parameter_names(route);
        let own_path = with_parameter_names(&route.template.openapi_path(), &own_names);
        let (path, names) = shapes
            .entry(path_shape(&own_path))
            .or_insert((own_path, own_names))
            .clone();
        let operation = generator.operation(route, operation_id.clone(), &names);
        let method = route.http_method.as_str().to_lowercase();
        operations.push(OperationRef {
            service: service.full_name().to_owned(),
            rpc: route.rpc.name().to_owned(),
            operation_id,
            path: path.clone(),
            method: method.clone(),
            parameters: names
                .into_iter()
                .zip(route.template.variables().map(<[String]>::to_vec))
                .collect(),
            output: match &route.response_body {
                Some(field) => field.kind().as_message().cloned(),
                None => Some(route.rpc.output()),
            },
        });
        paths.entry(path).or_default().insert(method, operation);
    }
    add_links(&mut paths, &operations);
    generator.drain();
    let mut schemas: Map<String, Json> = generator.schemas.into_iter().collect();
    schemas.insert("Problem".to_owned(), problem_schema());
    let responses: Map<String, Json> = ERROR_RESPONSES
        .iter()
        .map(|(status, description)| {
            (
                format!("Problem{status}"),
                problem_response(status, description),
            )
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SalesCompass API",
            "version": "v1",
            "description": "REST/JSON API of SalesCompass, transcoded to the services' gRPC methods. \
    JSON uses the proto3 mapping: lowerCamelCase names, enums as strings, 64-bit integers as strings, \
    timestamps as RFC 3339 and field masks as comma-separated names. Errors are RFC 9457 problem \
    documents. POST requests may carry an `Idempotency-Key` header: a retry with the same key returns \
    the first response for 24 hours.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "tags": tags.into_values().collect::<Vec<_>>(),
        "security": [{ "bearerAuth": [] }, {}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Access token from `POST /v1/auth:login`, or the platform \
    operator token for tenant provisioning. Login, refresh and the key set need no token."
                }
            },
            "headers": rate_limit_headers(),
        }
    })
}

struct Generator {
    comments: Comments,
    behavior: Option<ExtensionDescriptor>,
    schemas: BTreeMap<String, Json>,
    pending: Vec<SchemaKind>,
}

enum SchemaKind {
    Message(MessageDescriptor),
    Enum(EnumDescriptor),
}

impl Generator {
    fn operation(&mut self, route: &Route, operation_id: String, path_names: &[String]) -> Json {
        let rpc = &route.rpc;
        let service = rpc.parent_service();
        let input = rpc.input();
        let mut operation = Map::new();
        operation.insert("operationId".into(), Json::String(operation_id));
        operation.insert("tags".into(), json!([service.name()]));
        if let Some(text) = self.comments.of(&rpc.parent_file(), rpc.path()) {
            let summary = text.lines().next().unwrap_or_default().to_owned();
            operation.insert("summary".into(), Json::String(summary));
            operation.insert("description".into(), Json::String(text));
        }
        operation.insert(
            "x-grpc-method".into(),
            Json::String(route.full_method.clone()),
        );

        let bound: Vec<Vec<String>> = route.template.variables().map(<[String]>::to_vec).collect();
        let mut parameters = Vec::new();
        for (variable, name) in bound.iter().zip(path_names) {
            if let Some(field) = crate::routes::resolve_field_path(&input, variable) {
                let field_path = variable.join(".");
                let mut description = self
                    .comments
                    .of(&field.parent_file(), field.path())
                    .unwrap_or_default();
                if *name != field_path {
                    if !description.is_empty() {
                        description.push_str("\n\n");
                    }
                    description.push_str(&format!("Sets the request field `{field_path}`."));
                }
                let mut parameter = json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": self.field_schema(&field),
                });
                if !description.is_empty() {
                    parameter["description"] = Json::String(description);
                }
                parameters.push(parameter);
            }
        }
        let body_field = match &route.body {
            BodyRule::Field(field) => Some(field.clone()),
            _ => None,
        };
        if !matches!(route.body, BodyRule::Whole) {
            let mut seen = HashSet::new();
            self.query_parameters(
                &input,
                &[],
                &bound,
                body_field.as_ref(),
                &mut seen,
                &mut parameters,
            );
        }
        if route.http_method == http::Method::POST {
            parameters.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "Client-chosen unique key (1-255 visible ASCII characters); a \
retry with the same key and request returns the first response instead of running again.",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }
            }));
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Json::Array(parameters));
        }

        let body_schema = match &route.body {
            BodyRule::None => None,
            BodyRule::Whole if bound.is_empty() => Some(self.message_ref(&input)),
            BodyRule::Whole => Some(self.inline_without(&input, &bound)),
            BodyRule::Field(field) => Some(self.field_schema(field)),
        };
        if let Some(schema) = body_schema {
            operation.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "content": { "application/json": { "schema": schema } }
                }),
            );
        }

        let output_schema = match &route.response_body {
            Some(field) => self.field_schema(field),
            None => self.message_ref(&rpc.output()),
        };
        let mut responses = Map::new();
        let ok = if rpc.is_server_streaming() {
            // Served as server-sent events (crate::sse): each event's data is one message.
            json!({
                "description": "A server-sent event stream (text/event-stream): one `data:` line \
                    per message, in the schema shown; `: heartbeat` comment lines while idle; an \
                    `error` event with a problem+json body if the stream fails after it started. \
                    Closing the connection ends the call.",
                "headers": header_refs(),
                "content": { "text/event-stream": { "schema": output_schema } }
            })
        } else {
            json!({
                "description": "OK",
                "headers": header_refs(),
                "content": { "application/json": { "schema": output_schema } }
            })
        };
        responses.insert("200".into(), ok);
        for (status, _) in ERROR_RESPONSES {
            responses.insert(
                (*status).to_owned(),
                json!({ "$ref": format!("#/components/responses/Problem{status}") }),
            );
        }
        operation.insert("responses".into(), Json::Object(responses));
        Json::Object(operation)
    }

    fn query_parameters(
        &mut self,
        message: &MessageDescriptor,
        prefix: &[FieldDescriptor],
        bound: &[Vec<String>],
        body_field: Option<&FieldDescriptor>,
        seen: &mut HashSet<String>,
        out: &mut Vec<Json>,
    ) {
        if prefix.len() >= MAX_QUERY_DEPTH || !seen.insert(message.full_name().to_owned()) {
            return;
        }
        for field in message.fields() {
            if prefix.is_empty() && body_field == Some(&field) {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(field.clone());
            let proto_path: Vec<String> = path.iter().map(|f| f.name().to_owned()).collect();
            if bound.contains(&proto_path) || field.is_map() {
                continue;
            }
            if let Kind::Message(inner) = field.kind()
                && !is_scalar_like(&inner)
            {
                if !field.is_list() {
                    self.query_parameters(&inner, &path, bound, body_field, seen, out);
                }
                continue;
            }
            let name: Vec<&str> = path.iter().map(FieldDescriptor::json_name).collect();
            let mut parameter = json!({
                "name": name.join("."),
                "in": "query",
                "required": false,
                "schema": self.field_schema(&field),
            });
            if field.is_list() {
                parameter["style"] = json!("form");
                parameter["explode"] = json!(true);
            }
            if let Some(text) = self.comments.of(&field.parent_file(), field.path()) {
                parameter["description"] = Json::String(text);
            }
            out.push(parameter);
        }
        seen.remove(message.full_name());
    }

    /// The request message as an inline schema without the fields the path binds.
    fn inline_without(&mut self, message: &MessageDescriptor, bound: &[Vec<String>]) -> Json {
        let mut schema = self.message_schema(message);
        if let Some(properties) = schema.get_mut("properties").and_then(Json::as_object_mut) {
            for path in bound.iter().filter(|p| p.len() == 1) {
                if let Some(field) = message.get_field_by_name(&path[0]) {
                    properties.remove(field.json_name());
                }
            }
        }
        if let Some(required) = schema.get_mut("required").and_then(Json::as_array_mut) {
            required.retain(|name| {
                !bound.iter().any(|p| {
                    p.len() == 1
                        && message
                            .get_field_by_name(&p[0])
                            .is_some_and(|f| name.as_str() == Some(f.json_name()))
                })
            });
            if required.is_empty() {
                schema.as_object_mut().map(|o| o.remove("required"));
            }
        }
        schema
    }

    fn message_ref(&mut self, message: &MessageDescriptor) -> Json {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        if !self.schemas.contains_key(message.full_name()) {
            self.schemas
                .insert(message.full_name().to_owned(), Json::Null);
            self.pending.push(SchemaKind::Message(message.clone()));
        }
        json!({ "$ref": format!("#/components/schemas/{}", message.full_name()) })
    }

    fn enum_ref(&mut self, desc: &EnumDescriptor) -> Json {
        if !self.schemas.contains_key(desc.full_name()) {
            self.schemas.insert(desc.full_name().to_owned(), Json::Null);
            self.pending.push(SchemaKind::Enum(desc.clone()));
        }
        json!({ "$ref": format!("#/components/schemas/{}", desc.full_name()) })
    }

    /// Generates the schemas referenced so far, and those they reference in turn.
    fn drain(&mut self) {
        while let Some(kind) = self.pending.pop() {
            let (name, schema) = match kind {
                SchemaKind::Message(message) => (
                    message.full_name().to_owned(),
                    self.message_schema(&message),
                ),
                SchemaKind::Enum(desc) => (desc.full_name().to_owned(), self.enum_schema(&desc)),
            };
            self.schemas.insert(name, schema);
        }
    }

    fn message_schema(&mut self, message: &MessageDescriptor) -> Json {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            let mut schema = self.field_schema(&field);
            let behaviors = self.behaviors(&field);
            let mut extras = Map::new();
            if let Some(text) = self.comments.of(&field.parent_file(), field.path()) {
                extras.insert("description".into(), Json::String(text));
            }
            if behaviors.contains(&BEHAVIOR_OUTPUT_ONLY) {
                extras.insert("readOnly".into(), Json::Bool(true));
            }
            if behaviors.contains(&BEHAVIOR_REQUIRED) {
                required.push(Json::String(field.json_name().to_owned()));
            }
            if !extras.is_empty() {
                schema = match schema {
                    // Sibling keywords next to $ref are valid in 3.1 (JSON Schema 2020-12).
                    Json::Object(mut object) => {
                        object.extend(extras);
                        Json::Object(object)
                    }
                    other => other,
                };
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            schema["required"] = Json::Array(required);
        }
        if let Some(text) = self.comments.of(&message.parent_file(), message.path()) {
            schema["description"] = Json::String(text);
        }
        schema
    }

    fn enum_schema(&mut self, desc: &EnumDescriptor) -> Json {
        let names: Vec<String> = desc.values().map(|v| v.name().to_owned()).collect();
        let mut lines = Vec::new();
        for value in desc.values() {
            if let Some(text) = self.comments.of(&value.parent_file(), value.path()) {
                lines.push(format!("- `{}`: {}", value.name(), text.replace('\n', " ")));
            }
        }
        let mut schema = json!({ "type": "string", "enum": names });
        let mut description = self
            .comments
            .of(&desc.parent_file(), desc.path())
            .unwrap_or_default();
        if !lines.is_empty() {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&lines.join("\n"));
        }
        if !description.is_empty() {
            schema["description"] = Json::String(description);
        }
        schema
    }

    fn field_schema(&mut self, field: &FieldDescriptor) -> Json {
        if field.is_map()
            && let Kind::Message(entry) = field.kind()
        {
            let value = self.kind_schema(&entry.map_entry_value_field().kind());
            return json!({ "type": "object", "additionalProperties": value });
        }
        let single = self.kind_schema(&field.kind());
        if field.is_list() {
            json!({ "type": "array", "items": single })
        } else {
            single
        }
    }

    fn kind_schema(&mut self, kind: &Kind) -> Json {
        match kind {
            Kind::Double => json!({ "type": "number", "format": "double" }),
            Kind::Float => json!({ "type": "number", "format": "float" }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX })
            }
            // proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision).
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$" })
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$" })
            }
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Kind::Enum(desc) => self.enum_ref(desc),
            Kind::Message(message) => self.message_ref(message),
        }
    }

    fn behaviors(&self, field: &FieldDescriptor) -> Vec<i32> {
        let Some(ext) = &self.behavior else {
            return Vec::new();
        };
        let options = field.options();
        if !options.has_extension(ext) {
            return Vec::new();
        }
        match options.get_extension(ext).as_ref() {
            Value::List(values) => values.iter().filter_map(Value::as_enum_number).collect(),
            _ => Vec::new(),
        }
    }
}

/// What links between operations need to know about one operation.
struct OperationRef {
    /// `salescompass.crm.v1.LeadService`.
    service: String,
    /// `CreateLead`.
    rpc: String,
    operation_id: String,
    path: String,
    method: String,
    /// Path parameter name → the request field it sets (`id` → `lead.id`).
    parameters: Vec<(String, Vec<String>)>,
    /// The message the 200 response carries.
    output: Option<MessageDescriptor>,
}

/// OpenAPI `links` from each `Create<X>` to the `Get<X>`, `Update<X>` and `Delete<X>` of its
/// service, their path parameters taken from the created resource (`$response.body#/id`), so
/// clients and stateful fuzzers can follow a create to the record it made.
fn add_links(paths: &mut BTreeMap<String, Map<String, Json>>, operations: &[OperationRef]) {
    for create in operations {
        let Some(resource) = create.rpc.strip_prefix("Create") else {
            continue;
        };
        let Some(output) = &create.output else {
            continue;
        };
        let mut links = Map::new();
        for verb in ["Get", "Update", "Delete"] {
            let rpc = format!("{verb}{resource}");
            // The first route of a method is its main binding.
            let Some(target) = operations
                .iter()
                .find(|o| o.service == create.service && o.rpc == rpc)
            else {
                continue;
            };
            let parameters: Option<Map<String, Json>> = target
                .parameters
                .iter()
                .map(|(name, field_path)| {
                    let field = output.get_field_by_name(field_path.last()?)?;
                    let expression = format!("$response.body#/{}", field.json_name());
                    Some((name.clone(), Json::String(expression)))
                })
                .collect();
            // A target needing something the created resource does not carry gets no link.
            let Some(parameters) = parameters else {
                continue;
            };
            links.insert(
                rpc,
                json!({
                    "operationId": target.operation_id,
                    "parameters": parameters,
                    "description": format!(
                        "`{} {}` on the {} just created.",
                        target.method.to_uppercase(),
                        target.path,
                        output.name()
                    ),
                }),
            );
        }
        if links.is_empty() {
            continue;
        }
        if let Some(ok) = paths
            .get_mut(&create.path)
            .and_then(|item| item.get_mut(&create.method))
            .and_then(|operation| operation.pointer_mut("/responses/200"))
            .and_then(Json::as_object_mut)
        {
            ok.insert("links".to_owned(), Json::Object(links));
        }
    }
}

/// The last segment of each variable's field path (`rule.id` → `id`,
/// `entry.price_book_id` → `price_book_id`); the whole path joined by `_` where two variables of
/// the route would otherwise share a name.
fn plain_parameter_names(route: &Route) -> Vec<String> {
    let variables: Vec<&[String]> = route.template.variables().collect();
    let last = |v: &[String]| v.last().cloned().unwrap_or_default();
    variables
        .iter()
        .map(|variable| {
            let name = last(variable);
            let shared = variables.iter().filter(|v| last(v) == name).count() > 1;
            if shared { variable.join("_") } else { name }
        })
        .collect()
}

/// `/v1/rules/{rule.id}` with `["id"]` → `/v1/rules/{id}`: the path's variables renamed in order.
fn with_parameter_names(path: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(path.len());
    let mut names = names.iter();
    let mut in_variable = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_variable = true;
                out.push('{');
                out.push_str(names.next().map_or("", String::as_str));
            }
            '}' => {
                in_variable = false;
                out.push('}');
            }
            _ if in_variable => {}
            _ => out.push(c),
        }
    }
    out
}

/// `/v1/users/{user.id}:x` → `/v1/users/{}:x`: paths that OpenAPI considers identical.
fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_variable = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_variable = true;
                out.push_str("{}");
            }
            '}' => in_variable = false,
            _ if in_variable => {}
            _ => out.push(c),
        }
    }
    out
}

/// Well-known types have a JSON form of their own rather than an object of their fields.
fn well_known(message: &MessageDescriptor) -> Option<Json> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$" })
        }
        "google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "Comma-separated lowerCamelCase field paths, e.g. `displayName,role`."
        }),
        "google.protobuf.Empty" => json!({ "type": "object", "additionalProperties": false }),
        "google.protobuf.Struct" => json!({ "type": "object" }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array" }),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": { "@type": { "type": "string" } },
            "required": ["@type"]
        }),
        "google.protobuf.StringValue" => json!({ "type": ["string", "null"] }),
        "google.protobuf.BoolValue" => json!({ "type": ["boolean", "null"] }),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({ "type": ["integer", "null"] })
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({ "type": ["string", "null"], "pattern": "^-?[0-9]+$" })
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({ "type": ["number", "null"] })
        }
        "google.protobuf.BytesValue" => {
            json!({ "type": ["string", "null"], "contentEncoding": "base64" })
        }
        _ => return None,
    })
}

/// Messages that a single query parameter can set (see `field_value`).
fn is_scalar_like(message: &MessageDescriptor) -> bool {
    let name = message.full_name();
    matches!(
        name,
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask"
    ) || (name.starts_with("google.protobuf.")
        && name.ends_with("Value")
        && name != "google.protobuf.Value")
}

fn problem_schema() -> Json {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "instance": { "type": "string" },
            "code": { "type": "string", "description": "gRPC status code name, e.g. INVALID_ARGUMENT." },
            "traceId": { "type": "string", "description": "W3C trace id to quote when reporting a problem." },
            "requestId": { "type": "string" },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": { "type": "string" },
                        "description": { "type": "string" }
                    },
                    "required": ["field", "description"]
                }
            }
        },
        "required": ["type", "title", "status", "code", "traceId"]
    })
}

fn problem_response(status: &str, description: &str) -> Json {
    let mut response = json!({
        "description": description,
        "content": {
            "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } }
        }
    });
    if matches!(status, "429" | "503") {
        response["headers"] = json!({
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": { "type": "integer" }
            }
        });
    }
    response
}

fn rate_limit_headers() -> Json {
    json!({
        "RateLimit-Limit": { "description": "Requests allowed in a full bucket.", "schema": { "type": "integer" } },
        "RateLimit-Remaining": { "description": "Requests left in the bucket.", "schema": { "type": "integer" } },
        "RateLimit-Reset": { "description": "Seconds until the bucket is full again.", "schema": { "type": "integer" } },
        "X-Request-Id": { "description": "Id of this request, also in problem bodies.", "schema": { "type": "string" } }
    })
}

fn header_refs() -> Json {
    json!({
        "RateLimit-Limit": { "$ref": "#/components/headers/RateLimit-Limit" },
        "RateLimit-Remaining": { "$ref": "#/components/headers/RateLimit-Remaining" },
        "RateLimit-Reset": { "$ref": "#/components/headers/RateLimit-Reset" },
        "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" }
    })
}

/// Leading (or trailing) comments from `source_code_info`, indexed once per file.
#[derive(Default)]
struct Comments {
    by_file: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn of(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let index = self
            .by_file
            .entry(file.name().to_owned())
            .or_insert_with(|| index_comments(file));
        index.get(path).cloned()
    }
}

fn index_comments(file: &FileDescriptor) -> HashMap<Vec<i32>, String> {
    let mut out = HashMap::new();
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return out;
    };
    for location in &info.location {
        let text = location
            .leading_comments
            .as_deref()
            .or(location.trailing_comments.as_deref())
            .map(clean_comment)
            .unwrap_or_default();
        if !text.is_empty() {
            out.insert(location.path.clone(), text);
        }
    }
    out
}

fn clean_comment(raw: &str) -> String {
    raw.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Json {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let routes = RouteTable::from_pool(&pool).expect("routes");
        document(&routes, &pool)
    }

    #[test]
    fn every_route_is_an_operation() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let login = &doc["paths"]["/v1/auth:login"]["post"];
        assert_eq!(
            login["x-grpc-method"],
            "salescompass.tenants.v1.AuthService/Login"
        );
        assert_eq!(
            login["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/salescompass.tenants.v1.LoginRequest"
        );
        assert!(doc["paths"]["/v1/users/{id}"]["get"].is_object());
        assert!(doc["paths"]["/v1/users/{id}"]["delete"].is_object());
        assert!(doc["paths"]["/v1/users/{id}"]["patch"].is_object());
        assert!(
            doc["paths"].get("/v1/users/{user.id}").is_none(),
            "one path per shape"
        );
        assert!(doc["paths"]["/v1/users:me"]["get"].is_object());
    }

    #[test]
    fn comments_become_descriptions() {
        let doc = doc();
        let login = &doc["paths"]["/v1/auth:login"]["post"];
        assert!(
            login["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("Exchanges tenant slug")),
            "{login}"
        );
        let user = &doc["components"]["schemas"]["salescompass.tenants.v1.User"];
        assert_eq!(user["description"], "A person who logs in to a tenant.");
        assert_eq!(user["properties"]["id"]["readOnly"], true);
    }

    #[test]
    fn list_requests_offer_query_parameters_in_json_names() {
        let doc = doc();
        let params = doc["paths"]["/v1/users"]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["pageSize", "pageToken", "filter", "orderBy"]);
    }

    #[test]
    fn path_bound_fields_are_parameters_not_body_or_query() {
        let doc = doc();
        let patch = &doc["paths"]["/v1/users/{id}"]["patch"];
        let params = patch["parameters"].as_array().expect("parameters");
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["id", "updateMask"]);
        assert!(
            params[0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("`user.id`")),
            "{params:?}"
        );
        let suspend = &doc["paths"]["/v1/tenants/{id}:suspend"]["post"];
        let body = &suspend["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"].get("id").is_none());
        assert!(body["properties"].get("reason").is_some());
    }

    #[test]
    fn types_follow_the_proto3_json_mapping() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let login = &schemas["salescompass.tenants.v1.LoginResponse"]["properties"];
        assert_eq!(login["expiresIn"]["type"], "string");
        let user = &schemas["salescompass.tenants.v1.User"]["properties"];
        assert_eq!(user["createTime"]["format"], "date-time");
        assert_eq!(
            user["role"]["$ref"],
            "#/components/schemas/salescompass.tenants.v1.Role"
        );
        assert_eq!(
            schemas["salescompass.tenants.v1.Role"]["enum"][1],
            "ROLE_ADMIN"
        );
        let create = &schemas["salescompass.tenants.v1.CreateUserRequest"];
        let required: Vec<&str> = create["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Json::as_str)
            .collect();
        assert_eq!(required, ["email", "password", "displayName", "role"]);
    }

    /// `(path, method, operation)` of every operation.
    fn operations(doc: &Json) -> Vec<(&str, &str, &Json)> {
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("path item");
                item.iter()
                    .map(move |(method, op)| (path.as_str(), method.as_str(), op))
            })
            .collect()
    }

    fn path_parameter_names(operation: &Json) -> Vec<&str> {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect()
    }

    #[test]
    fn path_parameters_have_plain_names_matching_the_path() {
        let doc = doc();
        for (path, method, operation) in operations(&doc) {
            let templated: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .collect();
            assert_eq!(
                path_parameter_names(operation),
                templated,
                "{method} {path}"
            );
            for name in templated {
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{method} {path}: parameter {name:?} is not a plain name"
                );
            }
        }
        // These kept their field paths (`{rule.id}`, `{entry.price_book_id}`) before.
        for (path, methods) in [
            ("/v1/leadAssignmentRules/{id}", &["delete", "patch"][..]),
            ("/v1/priceBookEntries/{id}", &["delete", "patch"]),
            ("/v1/priceBooks/{price_book_id}/entries", &["get", "post"]),
        ] {
            for method in methods {
                assert!(doc["paths"][path][method].is_object(), "{method} {path}");
            }
        }
        let patch = &doc["paths"]["/v1/leadAssignmentRules/{id}"]["patch"]["parameters"][0];
        assert!(
            patch["description"]
                .as_str()
                .is_some_and(|d| d.contains("`rule.id`")),
            "{patch}"
        );
    }

    #[test]
    fn plain_names_keep_two_variables_of_one_path_apart() {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let routes = RouteTable::from_pool(&pool).expect("routes");
        let route = routes
            .iter()
            .find(|r| r.template.variables().count() == 2)
            .expect("a route with two variables");
        let names = plain_parameter_names(route);
        assert_ne!(names[0], names[1]);
        assert_eq!(
            with_parameter_names("/v1/a/{x.id}/b/{y.id}:go", &["x_id".into(), "y_id".into()]),
            "/v1/a/{x_id}/b/{y_id}:go"
        );
    }

    #[test]
    fn every_create_links_to_the_get_update_and_delete_of_what_it_made() {
        let doc = doc();
        let ops = operations(&doc);
        let by_method = |grpc: &str| {
            ops.iter()
                .find(|(_, _, op)| op["x-grpc-method"] == grpc)
                .map(|(_, _, op)| *op)
        };
        let mut linked = 0;
        for (path, method, create) in &ops {
            let grpc = create["x-grpc-method"].as_str().expect("grpc method");
            let (service, rpc) = grpc.split_once('/').expect("service/method");
            let Some(resource) = rpc.strip_prefix("Create") else {
                continue;
            };
            // A create that answers with its parent (`CreateStage` → the Pipeline) carries no
            // id of what it made, so nothing can link to it.
            let answers_with_resource =
                create["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(&format!(".{resource}")));
            if !answers_with_resource {
                continue;
            }
            let links = &create["responses"]["200"]["links"];
            for verb in ["Get", "Update", "Delete"] {
                let Some(target) = by_method(&format!("{service}/{verb}{resource}")) else {
                    continue;
                };
                let link = &links[format!("{verb}{resource}")];
                assert_eq!(
                    link["operationId"], target["operationId"],
                    "{method} {path} → {verb}{resource}"
                );
                let mut names: Vec<&str> = link["parameters"]
                    .as_object()
                    .expect("parameters")
                    .keys()
                    .map(String::as_str)
                    .collect();
                names.sort_unstable();
                let mut expected = path_parameter_names(target);
                expected.sort_unstable();
                assert_eq!(names, expected, "{method} {path} → {verb}{resource}");
                linked += 1;
            }
            if by_method(&format!("{service}/Get{resource}")).is_some() {
                assert!(links.is_object(), "{method} {path}: no links");
            }
        }
        assert!(linked >= 30, "only {linked} links");
        let lead = &doc["paths"]["/v1/leads"]["post"]["responses"]["200"]["links"];
        assert_eq!(lead["GetLead"]["parameters"]["id"], "$response.body#/id");
        assert_eq!(lead["UpdateLead"]["parameters"]["id"], "$response.body#/id");
        let entry = &doc["paths"]["/v1/priceBooks/{price_book_id}/entries"]["post"];
        assert_eq!(
            entry["responses"]["200"]["links"]["DeletePriceBookEntry"]["parameters"]["id"],
            "$response.body#/id"
        );
    }

    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc = doc();
        let ids: HashSet<&str> = operations(&doc)
            .iter()
            .filter_map(|(_, _, op)| op["operationId"].as_str())
            .collect();
        for (path, method, operation) in operations(&doc) {
            let links = operation["responses"]["200"]["links"].as_object();
            for (name, link) in links.into_iter().flatten() {
                let target = link["operationId"].as_str().expect("operationId");
                assert!(ids.contains(target), "{method} {path}: {name} → {target}");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
        }
    }

    fn collect_refs(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Json::String(target)) => out.push(target.clone()),
                        _ => collect_refs(inner, out),
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
            _ => {}
        }
    }
}
