//! Admin API handlers for domains, accounts, aliases, forwards and catch-all addresses.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tern_proto::Secret;
use tern_store::model::{Account, Alias, Domain, Forward, NewAccount};

use super::{
    AppState,
    error::{ApiError, ApiResult},
};

/// An account as the API shows it (never the password hash).
#[derive(Serialize)]
pub struct AccountView {
    id: u64,
    address: String,
    display_name: String,
    quota_bytes: Option<u64>,
    quota_messages: Option<u64>,
    used_bytes: i64,
    used_messages: i64,
    may_create_mailboxes: bool,
    may_send_as_any: bool,
    /// Where its mail is forwarded (`show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<Option<Forward>>,
    /// Aliases that deliver to it (`show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    aliases: Option<Vec<String>>,
}

async fn view(state: &AppState, a: Account) -> ApiResult<AccountView> {
    let usage = state.dir.usage(a.id).await?;
    Ok(AccountView {
        id: a.id,
        address: a.address,
        display_name: a.display_name,
        quota_bytes: a.quota_bytes,
        quota_messages: a.quota_messages,
        used_bytes: usage.bytes,
        used_messages: usage.messages,
        may_create_mailboxes: a.may_create_mailboxes,
        may_send_as_any: a.may_send_as_any,
        forward: None,
        aliases: None,
    })
}

#[derive(Deserialize)]
pub struct NewDomain {
    name: String,
}

pub async fn list_domains(State(s): State<AppState>) -> ApiResult<Json<Vec<Domain>>> {
    Ok(Json(s.dir.domains().await?))
}

pub async fn add_domain(
    State(s): State<AppState>,
    Json(body): Json<NewDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    let d = s.dir.add_domain(&body.name).await?;
    tracing::info!(domain = %d.name, "domain added");
    Ok((StatusCode::CREATED, Json(d)))
}

pub async fn remove_domain(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    s.dir.remove_domain(&name).await?;
    tracing::info!(domain = %name, "domain removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct NewAccountBody {
    address: String,
    password: String,
    #[serde(default)]
    display_name: String,
    quota_bytes: Option<u64>,
    quota_messages: Option<u64>,
}

pub async fn list_accounts(State(s): State<AppState>) -> ApiResult<Json<Vec<AccountView>>> {
    let mut out = Vec::new();
    for a in s.dir.accounts().await? {
        out.push(view(&s, a).await?);
    }
    Ok(Json(out))
}

pub async fn add_account(
    State(s): State<AppState>,
    Json(b): Json<NewAccountBody>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let a = s
        .dir
        .add_account(NewAccount {
            address: b.address,
            password: Secret::new(b.password),
            display_name: b.display_name,
            quota_bytes: b.quota_bytes,
            quota_messages: b.quota_messages,
        })
        .await?;
    tracing::info!(account = %a.address, id = a.id, "account added");
    Ok((StatusCode::CREATED, Json(view(&s, a).await?)))
}

pub async fn show_account(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let a = s.dir.require_account(&address).await?;
    let forward = s.dir.forward(&a.address).await?;
    let aliases = s
        .dir
        .aliases(None)
        .await?
        .into_iter()
        .filter(|al| {
            al.targets
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&a.address))
        })
        .map(|al| al.address)
        .collect();
    let mut v = view(&s, a).await?;
    v.forward = Some(forward);
    v.aliases = Some(aliases);
    Ok(Json(v))
}

pub async fn remove_account(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    s.dir.remove_account(&address).await?;
    tracing::info!(account = %address, "account removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PasswordBody {
    password: String,
}

pub async fn set_password(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    s.dir
        .set_password(&address, &Secret::new(b.password))
        .await?;
    tracing::info!(account = %address, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct QuotaBody {
    bytes: Option<u64>,
    messages: Option<u64>,
}

pub async fn set_quota(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(b): Json<QuotaBody>,
) -> ApiResult<Json<AccountView>> {
    let a = s.dir.set_quota(&address, b.bytes, b.messages).await?;
    Ok(Json(view(&s, a).await?))
}

/// The permissions to change; those left out stay as they are.
#[derive(Deserialize)]
pub struct PermissionsBody {
    may_create_mailboxes: Option<bool>,
    may_send_as_any: Option<bool>,
}

pub async fn set_permissions(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(b): Json<PermissionsBody>,
) -> ApiResult<Json<AccountView>> {
    let a = s
        .dir
        .update_account(&address, |a| {
            if let Some(v) = b.may_create_mailboxes {
                a.may_create_mailboxes = v;
            }
            if let Some(v) = b.may_send_as_any {
                a.may_send_as_any = v;
            }
        })
        .await?;
    tracing::info!(account = %a.address, may_create_mailboxes = a.may_create_mailboxes, may_send_as_any = a.may_send_as_any, "account permissions changed");
    Ok(Json(view(&s, a).await?))
}

#[derive(Deserialize)]
pub struct DomainFilter {
    domain: Option<String>,
}

pub async fn list_aliases(
    State(s): State<AppState>,
    Query(f): Query<DomainFilter>,
) -> ApiResult<Json<Vec<Alias>>> {
    Ok(Json(s.dir.aliases(f.domain.as_deref()).await?))
}

#[derive(Deserialize)]
pub struct TargetsBody {
    targets: Vec<String>,
}

pub async fn set_alias(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(b): Json<TargetsBody>,
) -> ApiResult<Json<Alias>> {
    let a = s.dir.set_alias(&address, &b.targets).await?;
    tracing::info!(alias = %a.address, targets = a.targets.len(), "alias set");
    Ok(Json(a))
}

pub async fn remove_alias(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    s.dir.remove_alias(&address).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn show_forward(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "forward": s.dir.forward(&address).await? })))
}

pub async fn set_forward(
    State(s): State<AppState>,
    Path(address): Path<String>,
    Json(f): Json<Forward>,
) -> ApiResult<Json<Value>> {
    let f = s.dir.set_forward(&address, Some(f)).await?;
    Ok(Json(json!({ "forward": f })))
}

pub async fn remove_forward(
    State(s): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    s.dir.set_forward(&address, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct CatchAllBody {
    target: String,
}

pub async fn show_catch_all(
    State(s): State<AppState>,
    Path(domain): Path<String>,
) -> ApiResult<Json<Value>> {
    if s.dir.domain(&domain).await?.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("domain {domain} does not exist"),
        ));
    }
    Ok(Json(
        json!({ "catch_all": s.dir.catch_all(&domain).await? }),
    ))
}

pub async fn set_catch_all(
    State(s): State<AppState>,
    Path(domain): Path<String>,
    Json(b): Json<CatchAllBody>,
) -> ApiResult<Json<Value>> {
    let t = s.dir.set_catch_all(&domain, Some(&b.target)).await?;
    Ok(Json(json!({ "catch_all": t })))
}

pub async fn remove_catch_all(
    State(s): State<AppState>,
    Path(domain): Path<String>,
) -> ApiResult<StatusCode> {
    s.dir.set_catch_all(&domain, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
