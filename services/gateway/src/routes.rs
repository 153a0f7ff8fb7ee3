//! The route table, derived from the `google.api.http` option of every RPC in the descriptor set,
//! so an annotated RPC is served without any change here.

use std::sync::Arc;

use http::Method;
use http::uri::PathAndQuery;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MethodDescriptor, Value,
};
use proto::google::api::HttpRule;
use proto::google::api::http_rule::Pattern;

use crate::Error;
use crate::path_template::{Bindings, PathTemplate};
use crate::wire_json::{JsonPlans, PlanId};

const HTTP_EXTENSION: &str = "google.api.http";
/// Packages we route: `salescompass.<service>.<version>`.
const PACKAGE_PREFIX: &str = "salescompass.";

/// Where the HTTP body goes in the request message.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body; every non-path field comes from the query string.
    None,
    /// `body: "*"`: the body is the whole request message, minus path fields.
    Whole,
    /// `body: "field"`: the body is that field; the rest comes from the query string.
    Field(FieldDescriptor),
}

/// One HTTP binding of one RPC.
#[derive(Debug)]
pub struct Route {
    pub http_method: Method,
    pub template: PathTemplate,
    pub rpc: MethodDescriptor,
    /// `salescompass.tenants.v1.UserService/GetUser`.
    pub full_method: String,
    /// `/salescompass.tenants.v1.UserService/GetUser`, the HTTP/2 path of the gRPC call.
    pub grpc_path: PathAndQuery,
    /// Upstream name (`tenants` for `salescompass.tenants.v1`).
    pub service: String,
    pub body: BodyRule,
    /// `response_body: "field"`: only that field of the response is returned.
    pub response_body: Option<FieldDescriptor>,
    /// The fast wire → JSON plan of the response, when it covers the response type.
    pub json_plan: Option<PlanId>,
}

/// Result of looking a request up.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a Arc<Route>, Bindings),
    /// The path exists but not for this method.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    json: JsonPlans,
}

impl RouteTable {
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, Error> {
        let Some(http_ext) = pool.get_extension_by_name(HTTP_EXTENSION) else {
            return Err(Error::Descriptors(format!(
                "{HTTP_EXTENSION} is not in the descriptor set"
            )));
        };
        let mut routes = Vec::new();
        for service in pool.services() {
            let Some(upstream) = upstream_name(service.package_name()) else {
                continue;
            };
            for rpc in service.methods() {
                // A client stream has no REST shape; a server stream is served as server-sent
                // events (`crate::sse`), which browsers open with GET only.
                if rpc.is_client_streaming() {
                    continue;
                }
                let options = rpc.options();
                if !options.has_extension(&http_ext) {
                    continue;
                }
                let rule = match options.get_extension(&http_ext).as_ref() {
                    Value::Message(message) => decode_rule(message, &rpc)?,
                    _ => continue,
                };
                let mut rules = vec![rule.clone()];
                rules.extend(rule.additional_bindings.iter().cloned());
                for rule in rules {
                    let route = build_route(&rule, &rpc, upstream)?;
                    if rpc.is_server_streaming() && route.http_method != Method::GET {
                        continue;
                    }
                    routes.push(route);
                }
            }
        }
        let json = JsonPlans::new(routes.iter().map(|route| route.rpc.output()));
        for route in &mut routes {
            route.json_plan = json.plan_for(&route.rpc.output());
        }
        // Most specific first, so `/v1/users:me` is tried before `/v1/users/{id}`.
        routes.sort_by_key(|route| std::cmp::Reverse(route.template.specificity()));
        Ok(Self {
            routes: routes.into_iter().map(Arc::new).collect(),
            json,
        })
    }

    /// Plans of the fast wire → JSON path for the routes' responses.
    pub fn json_plans(&self) -> &JsonPlans {
        &self.json
    }

    /// Keeps the routes of the services `keep` accepts (those with a configured upstream).
    pub fn retain_services(&mut self, keep: impl Fn(&str) -> bool) {
        self.routes.retain(|route| keep(&route.service));
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(bindings) = route.template.matches(path) else {
                continue;
            };
            if route.http_method == *method {
                return Lookup::Found(route, bindings);
            }
            if !allowed.contains(&route.http_method) {
                allowed.push(route.http_method.clone());
            }
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::MethodNotAllowed(allowed)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// `salescompass.tenants.v1` → `tenants`.
pub fn upstream_name(package: &str) -> Option<&str> {
    let rest = package.strip_prefix(PACKAGE_PREFIX)?;
    rest.split('.').next().filter(|name| !name.is_empty())
}

fn decode_rule(message: &DynamicMessage, rpc: &MethodDescriptor) -> Result<HttpRule, Error> {
    message.transcode_to::<HttpRule>().map_err(|e| {
        Error::Descriptors(format!(
            "{}: unreadable google.api.http: {e}",
            rpc.full_name()
        ))
    })
}

fn build_route(rule: &HttpRule, rpc: &MethodDescriptor, upstream: &str) -> Result<Route, Error> {
    let fail = |reason: String| Error::Descriptors(format!("{}: {reason}", rpc.full_name()));
    let (http_method, path) = match &rule.pattern {
        Some(Pattern::Get(path)) => (Method::GET, path),
        Some(Pattern::Put(path)) => (Method::PUT, path),
        Some(Pattern::Post(path)) => (Method::POST, path),
        Some(Pattern::Delete(path)) => (Method::DELETE, path),
        Some(Pattern::Patch(path)) => (Method::PATCH, path),
        Some(Pattern::Custom(custom)) => (
            Method::from_bytes(custom.kind.as_bytes())
                .map_err(|_| fail(format!("bad custom method `{}`", custom.kind)))?,
            &custom.path,
        ),
        None => return Err(fail("google.api.http without a pattern".to_owned())),
    };
    let template = PathTemplate::parse(path).map_err(|e| fail(e.to_string()))?;
    let input = rpc.input();
    for variable in template.variables() {
        let field = resolve_field_path(&input, variable).ok_or_else(|| {
            fail(format!(
                "path variable `{}` is no field",
                variable.join(".")
            ))
        })?;
        if field.is_list() || field.is_map() {
            return Err(fail(format!(
                "path variable `{}` is repeated",
                variable.join(".")
            )));
        }
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        name => BodyRule::Field(
            input
                .get_field_by_name(name)
                .ok_or_else(|| fail(format!("body field `{name}` does not exist")))?,
        ),
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => Some(
            rpc.output()
                .get_field_by_name(name)
                .ok_or_else(|| fail(format!("response_body field `{name}` does not exist")))?,
        ),
    };
    let service = rpc.parent_service();
    let full_method = format!("{}/{}", service.full_name(), rpc.name());
    let grpc_path = PathAndQuery::try_from(format!("/{full_method}"))
        .map_err(|e| fail(format!("bad gRPC path: {e}")))?;
    Ok(Route {
        http_method,
        template,
        rpc: rpc.clone(),
        full_method,
        grpc_path,
        service: upstream.to_owned(),
        body,
        response_body,
        json_plan: None,
    })
}

/// Walks `["user", "id"]` through nested messages of `message`.
pub fn resolve_field_path(
    message: &prost_reflect::MessageDescriptor,
    path: &[String],
) -> Option<FieldDescriptor> {
    let (last, parents) = path.split_last()?;
    let mut current = message.clone();
    for name in parents {
        let field = current.get_field_by_name(name)?;
        match field.kind() {
            Kind::Message(inner) if !field.is_list() => current = inner,
            _ => return None,
        }
    }
    current.get_field_by_name(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        RouteTable::from_pool(&pool).expect("routes")
    }

    fn found<'a>(table: &'a RouteTable, method: Method, path: &str) -> (&'a Route, Bindings) {
        match table.lookup(&method, path) {
            Lookup::Found(route, bindings) => (route, bindings),
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn every_annotated_tenants_rpc_has_a_route() {
        let table = table();
        let methods: Vec<&str> = table.iter().map(|r| r.full_method.as_str()).collect();
        for expected in [
            "salescompass.tenants.v1.TenantService/ProvisionTenant",
            "salescompass.tenants.v1.AuthService/Login",
            "salescompass.tenants.v1.AuthService/GetJwks",
            "salescompass.tenants.v1.UserService/GetCurrentUser",
            "salescompass.tenants.v1.UserService/UpdateUser",
            "salescompass.tenants.v1.RoleService/ListPermissions",
        ] {
            assert!(methods.contains(&expected), "{expected} missing");
        }
        for route in table.iter() {
            let package_service = route.full_method.split('.').nth(1);
            assert_eq!(
                Some(route.service.as_str()),
                package_service,
                "{}",
                route.full_method
            );
        }
    }

    #[test]
    fn service_tokens_are_not_minted_at_the_edge() {
        // IssueServiceToken carries no google.api.http annotation on purpose: services reach it
        // over gRPC inside the cluster, never through the REST edge.
        assert!(
            table()
                .iter()
                .all(|r| r.full_method != "salescompass.tenants.v1.AuthService/IssueServiceToken")
        );
    }

    #[test]
    fn custom_verbs_win_over_path_variables() {
        let table = table();
        let (route, bindings) = found(&table, Method::GET, "/v1/users:me");
        assert_eq!(
            route.full_method,
            "salescompass.tenants.v1.UserService/GetCurrentUser"
        );
        assert!(bindings.is_empty());

        let (route, bindings) = found(&table, Method::GET, "/v1/users/0190-a");
        assert_eq!(
            route.full_method,
            "salescompass.tenants.v1.UserService/GetUser"
        );
        assert_eq!(bindings, vec![(vec!["id".to_owned()], "0190-a".to_owned())]);

        let (route, _) = found(&table, Method::POST, "/v1/tenants:provision");
        assert_eq!(
            route.full_method,
            "salescompass.tenants.v1.TenantService/ProvisionTenant"
        );
        assert!(matches!(route.body, BodyRule::Whole));
    }

    #[test]
    fn nested_path_variables_and_body_fields_are_resolved() {
        let table = table();
        let (route, bindings) = found(&table, Method::PATCH, "/v1/users/u1");
        assert_eq!(
            route.full_method,
            "salescompass.tenants.v1.UserService/UpdateUser"
        );
        assert_eq!(
            bindings,
            vec![(vec!["user".to_owned(), "id".to_owned()], "u1".to_owned())]
        );
        match &route.body {
            BodyRule::Field(field) => assert_eq!(field.name(), "user"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            route.grpc_path.as_str(),
            "/salescompass.tenants.v1.UserService/UpdateUser"
        );
    }

    #[test]
    fn wrong_method_and_unknown_paths_are_told_apart() {
        let table = table();
        match table.lookup(&Method::PUT, "/v1/users/u1") {
            Lookup::MethodNotAllowed(mut allowed) => {
                allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                assert_eq!(allowed, vec![Method::DELETE, Method::GET, Method::PATCH]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            table.lookup(&Method::GET, "/v1/nothing"),
            Lookup::NotFound
        ));
        assert!(matches!(
            table.lookup(&Method::GET, "/v1/users/u1/extra"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn server_streams_are_routed_for_get() {
        let table = table();
        let (route, _) = found(&table, Method::GET, "/v1/notifications:stream");
        assert!(route.rpc.is_server_streaming());
        assert_eq!(
            route.full_method,
            "salescompass.crm.v1.NotificationService/StreamNotifications"
        );
    }

    #[test]
    fn package_names_map_to_upstreams() {
        assert_eq!(upstream_name("salescompass.tenants.v1"), Some("tenants"));
        assert_eq!(upstream_name("salescompass.crm.v1"), Some("crm"));
        assert_eq!(upstream_name("google.api"), None);
    }
}
