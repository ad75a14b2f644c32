//! `docs/openapi.yaml` as a checker: which operations it documents, and whether a reply (status,
//! JSON body, headers) matches the schema it gives (the subset of JSON Schema the document
//! uses). Shared by the registry's test (`registry_openapi.rs`) and the daemon's
//! (`tests/e2e/gateway_api.rs`, through `#[path]`).
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

pub struct Spec {
	root: Value,
}

impl Spec {
	pub fn load() -> Self {
		// The workspace root, from either crate's manifest directory.
		let mut path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
		while !path.join("docs/openapi.yaml").exists() {
			assert!(path.pop(), "docs/openapi.yaml not found above the manifest directory");
		}
		let path = path.join("docs/openapi.yaml");
		let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml");
		let root: Value = serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML");
		assert_eq!(root["openapi"], "3.1.0");
		Self { root }
	}

	/// Follows a `$ref` within the document.
	fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
		match value.get("$ref").and_then(Value::as_str) {
			Some(reference) => {
				let pointer = reference.strip_prefix('#').expect("local references only");
				self.resolve(
					self.root.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}")),
				)
			}
			None => value,
		}
	}

	/// Every (path template, method, status) the document describes for routes `served_by`
	/// (`registry`: the registry part, the default; `daemon`: routes marked
	/// `x-herald-served-by: daemon`).
	pub fn operations(&self, served_by: &str) -> BTreeSet<(String, String, String)> {
		let mut all = BTreeSet::new();
		for (path, item) in self.root["paths"].as_object().unwrap() {
			if item.get("x-herald-served-by").and_then(Value::as_str).unwrap_or("registry") != served_by {
				continue;
			}
			for (method, operation) in item.as_object().unwrap() {
				if method == "parameters" || method.starts_with("x-") {
					continue;
				}
				for status in operation["responses"].as_object().unwrap().keys() {
					all.insert((path.clone(), method.clone(), status.clone()));
				}
			}
		}
		all
	}

	pub fn response(&self, path: &str, method: &str, status: u16) -> &Value {
		let operation = &self.root["paths"][path][method];
		assert!(operation.is_object(), "{method} {path} is not documented");
		let response = &operation["responses"][status.to_string()];
		assert!(response.is_object(), "{method} {path} answered {status}, which is not documented");
		self.resolve(response)
	}

	/// Checks `value` against `schema` (the subset of JSON Schema the document uses).
	pub fn check(&self, schema: &Value, value: &Value, at: &str) {
		let schema = self.resolve(schema);
		if let Some(types) = schema.get("type") {
			let types: Vec<&str> = match types {
				Value::String(t) => vec![t.as_str()],
				Value::Array(list) => list.iter().map(|t| t.as_str().unwrap()).collect(),
				other => panic!("type {other}"),
			};
			assert!(types.iter().any(|t| type_matches(t, value)), "{at}: {value} is not of type {types:?}");
		}
		if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
			assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
		}
		if let (Some(object), Some(properties)) = (value.as_object(), schema.get("properties")) {
			for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
				let key = required.as_str().unwrap();
				assert!(object.contains_key(key), "{at}: required property {key} missing in {value}");
			}
			for (key, field) in object {
				match properties.get(key) {
					Some(field_schema) => self.check(field_schema, field, &format!("{at}.{key}")),
					None => assert!(
						schema.get("additionalProperties") != Some(&Value::Bool(false)),
						"{at}: property {key} is not documented"
					),
				}
			}
		}
		if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
			for (i, item) in items.iter().enumerate() {
				self.check(item_schema, item, &format!("{at}[{i}]"));
			}
		}
	}

	/// Checks one reply (its status, JSON body or `Null` for none, and whether it carries a
	/// header) against the document; returns the operation it exercised.
	pub fn check_reply(
		&self,
		path: &str,
		method: &str,
		status: u16,
		json: &Value,
		has_header: impl Fn(&str) -> bool,
	) -> (String, String, String) {
		let response = self.response(path, method, status);
		match response.pointer("/content/application~1json/schema") {
			Some(schema) => self.check(schema, json, &format!("{method} {path} {status}")),
			None => assert_eq!(*json, Value::Null, "{method} {path} {status}: undocumented body"),
		}
		for header in response.get("headers").and_then(Value::as_object).into_iter().flatten().map(|(h, _)| h)
		{
			assert!(has_header(header), "{method} {path} {status}: no {header} header");
		}
		(path.to_string(), method.to_string(), status.to_string())
	}
}

fn type_matches(t: &str, value: &Value) -> bool {
	match t {
		"string" => value.is_string(),
		"integer" => value.is_u64() || value.is_i64(),
		"object" => value.is_object(),
		"array" => value.is_array(),
		"null" => value.is_null(),
		"boolean" => value.is_boolean(),
		other => panic!("type {other} not handled"),
	}
}
