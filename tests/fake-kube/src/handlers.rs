//! The resource verbs: get, list (label/field selectors, `limit`/`continue`), watch (see
//! [`crate::watch`]), create (`generateName`, name validation -> 422, AlreadyExists -> 409,
//! namespace must exist), update (optimistic concurrency on `resourceVersion`), patch
//! (server-side apply, merge, JSON, strategic-as-merge), delete (finalizers,
//! `propagationPolicy`, preconditions), deletecollection, and the `status` and `scale`
//! subresources. `dryRun=All` runs every check and stores nothing.
//!
//! Field managers: `fieldManager` when given, else the User-Agent up to the first `/` (as
//! kube-apiserver derives it). Objects are returned with the `apiVersion` of the URL.

use crate::apply::{self, ApplyRequest};
use crate::managed;
use crate::patch;
use crate::registry::ResourceType;
use crate::select::{FieldSelector, LabelSelector};
use crate::server::{Inner, ResPath, lock};
use crate::status::{ApiError, json_response, qualified};
use crate::store::{DeleteOpts, State, name_of};
use crate::{table, util, watch};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// One resource request.
pub(crate) struct Ctx {
    pub method: Method,
    pub rp: ResPath,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Ctx {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }

    fn dry_run(&self) -> bool {
        self.q("dryRun") == Some("All")
    }

    fn ns(&self) -> &str {
        self.rp.namespace.as_deref().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.rp.name.as_deref().unwrap_or("")
    }

    fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }

    /// The field manager of a non-apply write.
    fn manager(&self) -> String {
        if let Some(m) = self.q("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        self.header("user-agent")
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    fn body_json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the request body is empty"));
        }
        util::parse_body(&self.body).map_err(ApiError::bad_request)
    }
}

/// The object as served at `version` (`apiVersion` of the URL, `kind` of the resource).
pub(crate) fn out(t: &ResourceType, version: &str, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.api_version(version)));
        m.insert("kind".into(), json!(t.kind));
    }
    o
}

pub(crate) async fn handle(inner: &Arc<Inner>, c: Ctx) -> Result<Response, ApiError> {
    let t = lock(&inner.state)
        .registry
        .by_plural(&c.rp.group, &c.rp.version, &c.rp.plural)
        .cloned()
        .ok_or_else(ApiError::no_route)?;
    if c.rp.namespace.is_some() && !t.namespaced {
        return Err(ApiError::no_route());
    }
    if t.namespaced && c.rp.namespace.is_none() && (c.rp.name.is_some() || c.method != Method::GET)
    {
        return Err(ApiError::no_route());
    }
    match c.rp.sub.as_deref() {
        None => {}
        Some("status") if t.status_subresource => {}
        Some("scale") if t.scale.is_some() => {}
        Some(_) => return Err(ApiError::no_route()),
    }
    let resp = match (c.method.as_str(), c.rp.name.is_some()) {
        ("GET", false) if c.flag("watch") => return watch::serve(inner.clone(), t, &c),
        ("GET", false) => list(inner, &t, &c),
        ("GET", true) => get(inner, &t, &c),
        ("POST", false) => create(inner, &t, &c),
        ("PUT", true) => update(inner, &t, &c),
        ("PATCH", true) => patch_req(inner, &t, &c),
        ("DELETE", true) => delete(inner, &t, &c),
        ("DELETE", false) => delete_collection(inner, &t, &c),
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }?;
    if matches!(c.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !c.dry_run() {
        inner.changed.notify_one();
    }
    Ok(resp)
}

fn not_found(t: &ResourceType, name: &str) -> ApiError {
    ApiError::not_found(&t.group, &t.plural, name)
}

fn current(st: &State, t: &ResourceType, c: &Ctx) -> Result<Value, ApiError> {
    st.get(&t.key(), c.ns(), c.name())
        .cloned()
        .ok_or_else(|| not_found(t, c.name()))
}

fn get(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let obj = current(&lock(&inner.state), t, c)?;
    if c.rp.sub.as_deref() == Some("scale") {
        return Ok(json_response(200, &scale_doc(t, &obj)));
    }
    let o = out(t, &c.rp.version, &obj);
    if let Some(tab) = table::wanted(c.header("accept")) {
        return Ok(json_response(
            200,
            &table::table(t, &c.rp.version, &[o], tab, None),
        ));
    }
    Ok(json_response(200, &o))
}

fn selectors(c: &Ctx) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(c.q("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse labelSelector: {e}")))?;
    let f = FieldSelector::parse(c.q("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse fieldSelector: {e}")))?;
    Ok((l, f))
}

/// Objects of a list or watch request that match its namespace and selectors.
pub(crate) fn matching(st: &State, t: &ResourceType, c: &Ctx) -> Result<Vec<Value>, ApiError> {
    let (l, f) = selectors(c)?;
    Ok(st
        .list(&t.key(), c.rp.namespace.as_deref())
        .into_iter()
        .filter(|o| l.matches(o) && f.matches(o))
        .cloned()
        .collect())
}

fn list(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let st = lock(&inner.state);
    let mut items = matching(&st, t, c)?;
    let rv = st.resource_version().to_string();
    drop(st);
    // `continue` is the `namespace/name` after which to resume (opaque to clients).
    if let Some(after) = c.q("continue").filter(|s| !s.is_empty()) {
        let (ans, aname) = after
            .split_once('/')
            .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
        items.retain(|o| (crate::store::namespace_of(o), name_of(o)) > (ans, aname));
    }
    let mut meta = json!({"resourceVersion": rv});
    if let Some(limit) = c
        .q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        let rest = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            meta["continue"] = json!(format!(
                "{}/{}",
                crate::store::namespace_of(last),
                name_of(last)
            ));
            meta["remainingItemCount"] = json!(rest);
        }
    }
    let items: Vec<Value> = items.iter().map(|o| out(t, &c.rp.version, o)).collect();
    if let Some(tab) = table::wanted(c.header("accept")) {
        return Ok(json_response(
            200,
            &table::table(t, &c.rp.version, &items, tab, Some(meta)),
        ));
    }
    Ok(json_response(
        200,
        &json!({"apiVersion": t.api_version(&c.rp.version), "kind": format!("{}List", t.kind),
            "metadata": meta, "items": items}),
    ))
}

/// Checks `apiVersion`/`kind` of a body against the URL (filling them in when absent).
fn check_type(t: &ResourceType, c: &Ctx, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON or YAML object",
        ));
    }
    let want = t.api_version(&c.rp.version);
    match obj["apiVersion"].as_str() {
        None | Some("") => obj["apiVersion"] = json!(want),
        Some(av) => {
            let (g, v) = crate::registry::split_api_version(av);
            if g != t.group || !t.serves(v) {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want})"
                )));
            }
        }
    }
    match obj["kind"].as_str() {
        None | Some("") => obj["kind"] = json!(t.kind),
        Some(k) if k == t.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                t.kind
            )));
        }
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match (obj["metadata"]["namespace"].as_str(), t.namespaced) {
        (Some(n), true) if !n.is_empty() && n != c.ns() => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (_, true) => {
            obj["metadata"]["namespace"] = json!(c.ns());
            Ok(())
        }
        (_, false) => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.shift_remove("namespace");
            }
            Ok(())
        }
    }
}

fn check_name_matches(c: &Ctx, obj: &Value) -> Result<(), ApiError> {
    let n = name_of(obj);
    if n != c.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({})",
            c.name()
        )));
    }
    Ok(())
}

/// Checks for a new object: valid name, namespace exists and is not terminating, not there
/// yet, CRDs well-formed. Removes what the server owns.
fn admit_new(st: &State, t: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    let why = if t.kind == "Namespace" {
        util::invalid_label(&name)
    } else {
        util::invalid_subdomain(&name)
    };
    if let Some(why) = why {
        return Err(ApiError::invalid(
            &t.group,
            &t.kind,
            &name,
            "metadata.name",
            &name,
            &why,
        ));
    }
    if t.namespaced {
        let ns = crate::store::namespace_of(obj).to_string();
        match st.get("namespaces", "", &ns) {
            None => return Err(ApiError::not_found("", "namespaces", &ns)),
            Some(n) if n["metadata"].get("deletionTimestamp").is_some() => {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        qualified(&t.group, &t.plural)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if st
        .get(&t.key(), crate::store::namespace_of(obj), &name)
        .is_some()
    {
        return Err(ApiError::already_exists(&t.group, &t.plural, &name));
    }
    if t.kind == "CustomResourceDefinition" {
        crate::registry::crd_type(obj).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!("CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: {e}"),
            )
        })?;
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            m.shift_remove(k);
        }
    }
    Ok(())
}

fn create(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let mut obj = c.body_json()?;
    check_type(t, c, &mut obj)?;
    if name_of(&obj).is_empty() {
        match obj["metadata"]["generateName"].as_str() {
            Some(g) if !g.is_empty() => {
                obj["metadata"]["name"] = json!(format!("{g}{}", util::suffix(5)));
            }
            _ => {
                return Err(ApiError::invalid(
                    &t.group,
                    &t.kind,
                    "",
                    "metadata.name",
                    "",
                    "name or generateName is required",
                ));
            }
        }
    }
    if t.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.shift_remove("status");
    }
    let mut st = lock(&inner.state);
    admit_new(&st, t, &mut obj)?;
    let mut entries = Vec::new();
    managed::record_update(
        &mut entries,
        &json!({}),
        &obj,
        &c.manager(),
        &t.api_version(&c.rp.version),
        None,
        &util::now(),
    );
    managed::write(&mut obj, &entries);
    let stored = if c.dry_run() { obj } else { st.commit(&obj) };
    Ok(json_response(201, &out(t, &c.rp.version, &stored)))
}

/// The next state of `old` when `candidate` is written to the main resource or `/status`:
/// only `status` changes on `/status`; `status` is kept on the main resource of kinds with a
/// status subresource; name, namespace and server metadata stay.
fn next_state(t: &ResourceType, c: &Ctx, old: &Value, candidate: Value) -> Value {
    let mut new = if c.rp.sub.as_deref() == Some("status") {
        let mut n = old.clone();
        match candidate.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Some(m) = n.as_object_mut() {
                    m.shift_remove("status");
                }
            }
        }
        n
    } else {
        let mut n = candidate;
        if t.status_subresource {
            match old.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.shift_remove("status");
                    }
                }
            }
        }
        n
    };
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.shift_remove(k);
                }
            }
        }
    }
    new
}

/// Records the write in managedFields and stores it (unless dry run).
fn finish_update(st: &mut State, t: &ResourceType, c: &Ctx, old: &Value, mut new: Value) -> Value {
    let mut entries = managed::read(old);
    managed::record_update(
        &mut entries,
        old,
        &new,
        &c.manager(),
        &t.api_version(&c.rp.version),
        c.rp.sub.as_deref().filter(|s| *s == "status"),
        &util::now(),
    );
    managed::write(&mut new, &entries);
    if c.dry_run() { new } else { st.commit(&new) }
}

fn check_rv(t: &ResourceType, c: &Ctx, old: &Value, new: &Value) -> Result<(), ApiError> {
    match new["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() => {
            Err(ApiError::stale(&t.group, &t.plural, c.name()))
        }
        _ => Ok(()),
    }
}

fn update(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let mut body = c.body_json()?;
    if c.rp.sub.as_deref() == Some("scale") {
        let replicas = body["spec"]["replicas"].clone();
        return scale_write(inner, t, c, replicas);
    }
    check_type(t, c, &mut body)?;
    check_name_matches(c, &body)?;
    let mut st = lock(&inner.state);
    let old = current(&st, t, c)?;
    check_rv(t, c, &old, &body)?;
    if t.kind == "CustomResourceDefinition" {
        crate::registry::crd_type(&body).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!(
                    "CustomResourceDefinition.apiextensions.k8s.io \"{}\" is invalid: {e}",
                    c.name()
                ),
            )
        })?;
    }
    let new = next_state(t, c, &old, body);
    let stored = finish_update(&mut st, t, c, &old, new);
    Ok(json_response(200, &out(t, &c.rp.version, &stored)))
}

fn media_type(c: &Ctx) -> String {
    c.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn patch_req(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let mt = media_type(c);
    if mt == "application/apply-patch+yaml" || mt == "application/apply-patch+cbor" {
        if c.rp.sub.as_deref() == Some("scale") {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "apply is not supported on the scale subresource of this fake",
            ));
        }
        return apply_req(inner, t, c);
    }
    let strategic = mt == "application/strategic-merge-patch+json";
    let json_patch = mt == "application/json-patch+json";
    if !(strategic || json_patch || mt == "application/merge-patch+json") || (strategic && t.custom)
    {
        let mut accepted = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        if !t.custom {
            accepted.push("application/strategic-merge-patch+json");
        }
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        ));
    }
    let mut p = c.body_json()?;
    let mut st = lock(&inner.state);
    let old = current(&st, t, c)?;
    if c.rp.sub.as_deref() == Some("scale") {
        let mut doc = scale_doc(t, &old);
        apply_patch(&mut doc, &mut p, json_patch, strategic)?;
        drop(st);
        return scale_write(inner, t, c, doc["spec"]["replicas"].clone());
    }
    let mut patched = old.clone();
    apply_patch(&mut patched, &mut p, json_patch, strategic)?;
    if !patched.is_object() || !patched["metadata"].is_object() {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{}\" is invalid: metadata: Invalid value: the patch must leave an object with a metadata object",
                t.kind,
                c.name()
            ),
        ));
    }
    // apiVersion and kind are not the patch's to change.
    patched["apiVersion"] = old["apiVersion"].clone();
    patched["kind"] = old["kind"].clone();
    check_rv(t, c, &old, &patched)?;
    let new = next_state(t, c, &old, patched);
    let stored = finish_update(&mut st, t, c, &old, new);
    Ok(json_response(200, &out(t, &c.rp.version, &stored)))
}

fn apply_patch(
    doc: &mut Value,
    p: &mut Value,
    json_patch: bool,
    strategic: bool,
) -> Result<(), ApiError> {
    if json_patch {
        return patch::json_patch(doc, p).map_err(|e| ApiError::new(422, "Invalid", e));
    }
    if strategic {
        patch::strip_directives(p);
    }
    if !p.is_object() {
        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
    }
    patch::merge_patch(doc, p);
    Ok(())
}

fn apply_req(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let Some(manager) = c.q("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    let mut applied = c.body_json()?;
    for f in ["apiVersion", "kind"] {
        if applied[f].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(format!("{f} must be set")));
        }
    }
    check_type(t, c, &mut applied)?;
    check_name_matches(c, &applied)?;
    let mut st = lock(&inner.state);
    let live = st.get(&t.key(), c.ns(), c.name()).cloned();
    if live.is_none() && c.rp.sub.is_some() {
        return Err(not_found(t, c.name()));
    }
    if let Some(l) = &live {
        check_rv(t, c, l, &applied)?;
    }
    let req = ApplyRequest {
        group: &t.group,
        resource: &t.plural,
        name: c.name(),
        manager,
        api_version: &t.api_version(&c.rp.version),
        force: c.flag("force"),
        subresource: c.rp.sub.as_deref(),
        now: &util::now(),
    };
    let mut obj = apply::apply(live.as_ref(), &applied, &req)?;
    if t.namespaced {
        obj["metadata"]["namespace"] = json!(c.ns());
    }
    let created = live.is_none();
    if created {
        admit_new(&st, t, &mut obj)?;
    } else if t.kind == "CustomResourceDefinition" {
        crate::registry::crd_type(&obj).map_err(|e| ApiError::new(422, "Invalid", e))?;
    }
    let stored = if c.dry_run() { obj } else { st.commit(&obj) };
    Ok(json_response(
        if created { 201 } else { 200 },
        &out(t, &c.rp.version, &stored),
    ))
}

fn delete_opts(c: &Ctx) -> Result<(DeleteOpts, Value), ApiError> {
    let body = if c.body.is_empty() {
        json!({})
    } else {
        c.body_json()?
    };
    let policy = c
        .q("propagationPolicy")
        .map(String::from)
        .or_else(|| body["propagationPolicy"].as_str().map(String::from))
        .or_else(|| {
            (body["orphanDependents"].as_bool() == Some(true)).then(|| "Orphan".to_string())
        });
    match policy.as_deref() {
        None | Some("Background" | "Foreground" | "Orphan") => {}
        Some(p) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    }
    Ok((
        DeleteOpts {
            orphan: policy.as_deref() == Some("Orphan"),
        },
        body,
    ))
}

fn delete(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let (opts, body) = delete_opts(c)?;
    let mut st = lock(&inner.state);
    let obj = current(&st, t, c)?;
    let pre = &body["preconditions"];
    for (k, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(want) = pre[k].as_str()
            && Some(want) != obj["metadata"][k].as_str()
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
                    obj["metadata"][k].as_str().unwrap_or("")
                ),
            ));
        }
    }
    let dry = c.dry_run()
        || body["dryRun"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("All")));
    let result = if dry {
        obj
    } else {
        st.delete(t, c.ns(), c.name(), &opts).unwrap_or(obj)
    };
    Ok(json_response(200, &out(t, &c.rp.version, &result)))
}

fn delete_collection(inner: &Inner, t: &ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let (opts, _) = delete_opts(c)?;
    let mut st = lock(&inner.state);
    let victims = matching(&st, t, c)?;
    let mut items = Vec::new();
    for v in victims {
        let ns = crate::store::namespace_of(&v).to_string();
        let name = name_of(&v).to_string();
        let done = if c.dry_run() {
            Some(v)
        } else {
            st.delete(t, &ns, &name, &opts)
        };
        if let Some(d) = done {
            items.push(out(t, &c.rp.version, &d));
        }
    }
    Ok(json_response(
        200,
        &json!({"apiVersion": t.api_version(&c.rp.version), "kind": format!("{}List", t.kind),
            "metadata": {"resourceVersion": st.resource_version().to_string()}, "items": items}),
    ))
}

/// `autoscaling/v1` `Scale` of an object, from the resource's scale paths.
fn scale_doc(t: &ResourceType, obj: &Value) -> Value {
    let (spec_p, status_p, sel_p) = t.scale.clone().unwrap_or_default();
    let at = |p: &str| managed::get(obj, &util::json_path(p)).cloned();
    let mut status = json!({"replicas": at(&status_p).unwrap_or(json!(0))});
    if let Some(sel) = sel_p.as_deref().and_then(at) {
        status["selector"] = sel;
    }
    let md = &obj["metadata"];
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
        "spec": {"replicas": at(&spec_p).unwrap_or(json!(0))}, "status": status})
}

fn scale_write(
    inner: &Inner,
    t: &ResourceType,
    c: &Ctx,
    replicas: Value,
) -> Result<Response, ApiError> {
    let n = replicas.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::new(422, "Invalid", format!("Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0", c.name()))
    })?;
    let mut st = lock(&inner.state);
    let old = current(&st, t, c)?;
    let (spec_p, _, _) = t.scale.clone().unwrap_or_default();
    let mut new = old.clone();
    managed::set(&mut new, &util::json_path(&spec_p), json!(n));
    let mut entries = managed::read(&old);
    managed::record_update(
        &mut entries,
        &old,
        &new,
        &c.manager(),
        &t.api_version(&c.rp.version),
        None,
        &util::now(),
    );
    managed::write(&mut new, &entries);
    let stored = if c.dry_run() { new } else { st.commit(&new) };
    Ok(json_response(200, &scale_doc(t, &stored)))
}
