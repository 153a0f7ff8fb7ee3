//! The served OpenAPI document is checked as OpenAPI 3.1 here: it must parse into `oas3`'s typed
//! 3.1 model with every reference resolvable, every schema must be a valid JSON Schema 2020-12
//! (the 3.1 schema dialect), and path templates must agree with path parameters.
//! `scripts/gateway-openapi-validate.sh` runs PyPI's openapi-spec-validator on the same document.

use std::collections::{BTreeSet, HashSet};

use oas3::spec::{Parameter, ParameterIn};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{expect_json, platform};

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let p = platform(&[]).await;
    let r = p
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("sent");
    let doc: Value = expect_json(r, StatusCode::OK).await;
    let full = gateway::openapi_document().expect("document");
    for path in doc["paths"].as_object().expect("paths").keys() {
        assert!(full["paths"].get(path).is_some(), "{path}");
    }
    assert!(doc["paths"].get("/v1/users:me").is_some());
    let text = serde_json::to_string(&doc).expect("json");

    let spec = oas3::from_json(&text).expect("parses as an OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1."), "{}", spec.openapi);

    let mut operation_ids = HashSet::new();
    let mut operations = 0;
    for (path, method, operation) in spec.operations() {
        operations += 1;
        let id = operation.operation_id.clone().expect("operationId");
        assert!(
            operation_ids.insert(id.clone()),
            "duplicate operationId {id}"
        );

        let parameters: Vec<Parameter> = operation
            .parameters
            .iter()
            .map(|p| p.resolve(&spec).unwrap_or_else(|e| panic!("{id}: {e}")))
            .collect();
        let declared: BTreeSet<String> = parameters
            .iter()
            .filter(|p| p.location == ParameterIn::Path)
            .map(|p| p.name.clone())
            .collect();
        let templated: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect();
        assert_eq!(declared, templated, "{method} {path}: path parameters");
        for name in &templated {
            assert!(
                !name.contains('.'),
                "{method} {path}: {name} is a field path, not a plain name"
            );
        }
        for parameter in &parameters {
            let schema = parameter.schema.as_ref().expect("parameter schema");
            schema
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{id} {}: {e}", parameter.name));
        }
        if let Some(body) = &operation.request_body {
            let body = body.resolve(&spec).unwrap_or_else(|e| panic!("{id}: {e}"));
            let media = body.content.get("application/json").expect("JSON body");
            let schema = media.schema.as_ref().expect("body schema");
            schema
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
        }
        let responses = operation.responses(&spec);
        assert!(responses.contains_key("200"), "{id}: 200 response");
        assert!(
            responses.contains_key("400") && responses.contains_key("401"),
            "{id}"
        );
    }
    assert!(operations >= 20, "only {operations} operations");
    assert!(
        spec.operations().all(|(_, _, op)| op
            .extensions
            .get("grpc-method")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.starts_with("salescompass.tenants."))),
        "only services with an upstream are served"
    );

    // Each create links to the get/update/delete of the record it made, with every path
    // parameter of the target filled from the response.
    let served: Vec<(&str, &Value)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .values()
                .map(move |op| (path.as_str(), op))
        })
        .collect();
    let mut links = 0;
    for (path, create) in &served {
        let Some((service, resource)) = create["operationId"]
            .as_str()
            .and_then(|id| id.split_once("_Create"))
        else {
            continue;
        };
        let get_id = format!("{service}_Get{resource}");
        let Some((get_path, _)) = served.iter().find(|(_, op)| op["operationId"] == get_id) else {
            continue;
        };
        let link = &create["responses"]["200"]["links"][format!("Get{resource}")];
        assert_eq!(link["operationId"], get_id.as_str(), "{path}: {link}");
        for name in get_path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        {
            assert!(
                link["parameters"][name]
                    .as_str()
                    .is_some_and(|e| e.starts_with("$response.body#/")),
                "{path} → {get_id}: {name}"
            );
        }
        links += 1;
    }
    assert!(links >= 2, "CreateUser and CreateRole link to their Get");

    // Every schema is valid JSON Schema 2020-12, the dialect of OpenAPI 3.1.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (name, schema) in schemas {
        jsonschema::draft202012::meta::validate(schema)
            .unwrap_or_else(|e| panic!("schema {name} is not valid JSON Schema: {e}"));
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                jsonschema::draft202012::meta::validate(&parameter["schema"])
                    .unwrap_or_else(|e| panic!("{method} {path} {}: {e}", parameter["name"]));
            }
        }
    }
}
