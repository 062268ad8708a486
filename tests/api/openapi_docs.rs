//! `/openapi.json` documents itself fully: every operation and response has a description,
//! every body an example, the error shape too, and every field of Twilio's webhook forms is
//! described and exemplified (issue 14). Offenders are all named, not just the first.

use serde_json::Value;

use crate::helpers::spawn_app;

/// Pages (the dashboard, `/docs`) and their assets: a rendered page has no meaningful example,
/// so these media types are exempt from the example rule; their description still counts.
const PAGE_TYPES: [&str; 4] = ["text/html", "text/css", "text/javascript", "text/plain"];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `#/components/schemas/Name` → the schema, or `schema` itself when it is no `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn has_example(value: &Value) -> bool {
    value.get("example").is_some_and(|e| !e.is_null())
        || value
            .get("examples")
            .is_some_and(|e| e.as_object().is_some_and(|o| !o.is_empty()) || e.is_array())
}

/// An example at the schema, or through its parts: every property of an object, the items of
/// an array, each branch of `allOf`/`oneOf`/`anyOf`.
fn exemplified(doc: &Value, schema: &Value, depth: usize) -> bool {
    let schema = resolve(doc, schema);
    if has_example(schema) {
        return true;
    }
    if depth > 12 {
        return false;
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            return !parts.is_empty() && parts.iter().all(|p| exemplified(doc, p, depth + 1));
        }
    }
    if let Some(items) = schema.get("items") {
        return exemplified(doc, items, depth + 1);
    }
    match schema.get("properties").and_then(Value::as_object) {
        Some(props) => !props.is_empty() && props.values().all(|p| exemplified(doc, p, depth + 1)),
        None => false,
    }
}

/// The offending media types of a `content` map: those without an example anywhere.
fn unexemplified(doc: &Value, content: &Value) -> Vec<String> {
    let Some(content) = content.as_object() else {
        return Vec::new();
    };
    content
        .iter()
        .filter(|(media, _)| !PAGE_TYPES.iter().any(|p| media.starts_with(p)))
        .filter(|(_, body)| {
            !has_example(body) && !body.get("schema").is_some_and(|s| exemplified(doc, s, 0))
        })
        .map(|(media, _)| media.clone())
        .collect()
}

fn non_empty(value: &Value) -> bool {
    value.as_str().is_some_and(|s| !s.trim().is_empty())
}

#[tokio::test]
async fn every_route_request_and_response_has_a_description_and_an_example() {
    let app = spawn_app().await;
    let answer = app.get_with_key("/openapi.json", None).await;
    assert_eq!(answer.status, 200);
    let doc = &answer.body;
    let mut offenders = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            if !non_empty(&op["description"]) && !non_empty(&op["summary"]) {
                offenders.push(format!("{name}: no description"));
            }
            if let Some(body) = op.get("requestBody") {
                for media in unexemplified(doc, &body["content"]) {
                    offenders.push(format!("{name}: request body {media} has no example"));
                }
            }
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if !non_empty(&response["description"]) {
                    offenders.push(format!("{name} → {status}: no description"));
                }
                if let Some(content) = response.get("content") {
                    for media in unexemplified(doc, content) {
                        offenders.push(format!("{name} → {status}: {media} has no example"));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "{} offenders:\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}

#[tokio::test]
async fn the_error_shape_and_every_webhook_form_field_are_described_and_exemplified() {
    let app = spawn_app().await;
    let answer = app.get_with_key("/openapi.json", None).await;
    let doc = &answer.body;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let error = &schemas["ErrorBody"];
    assert!(exemplified(doc, error, 0), "ErrorBody has no example");

    // Every form a `twilio`-tagged operation receives, found from the document itself.
    let mut forms = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let twilio = op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "twilio"));
            if !twilio {
                continue;
            }
            for body in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                forms.push(body.1["schema"].clone());
            }
        }
    }
    assert!(!forms.is_empty(), "no twilio webhook in the document");
    let mut offenders = Vec::new();
    for form in &forms {
        let name = form["$ref"].as_str().unwrap_or("inline form").to_owned();
        let schema = resolve(doc, form);
        let props = schema["properties"].as_object();
        assert!(props.is_some(), "{name} has no properties");
        for (field, prop) in props.into_iter().flatten() {
            let target = resolve(doc, prop);
            if !non_empty(&prop["description"]) && !non_empty(&target["description"]) {
                offenders.push(format!("{name}.{field}: no description"));
            }
            if !has_example(prop) && !exemplified(doc, prop, 0) {
                offenders.push(format!("{name}.{field}: no example"));
            }
        }
    }
    for name in [
        "VoiceWebhook",
        "VoiceStatusCallback",
        "SmsWebhook",
        "SmsStatusCallback",
        "OtpCallWebhook",
    ] {
        assert!(
            forms
                .iter()
                .any(|f| f["$ref"].as_str().is_some_and(|r| r.ends_with(name))),
            "{name} is not the form of a twilio operation"
        );
    }
    assert!(
        offenders.is_empty(),
        "{} offenders:\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}
