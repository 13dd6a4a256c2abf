//! The contract tests' shared mechanics. Pacts live in `pacts/` at the repository root, the
//! exchange point between consumers and providers (no Pact Broker runs here).
//!
//! - A **consumer** test builds its pact with `pact_consumer`, drives its real code with the
//!   pact's messages or against the pact's mock server, and lets the pact be written to a
//!   [`PactOutput`]; [`PactOutput::settle`] then fails the test when the committed file differs
//!   from what the consumer now expects (`VBS_WRITE_PACTS=1` rewrites it instead).
//! - A **provider** test runs its real service and calls [`verify`]: `pact_verifier` replays the
//!   committed pact against it. Message interactions are answered by a small endpoint that hands
//!   each request to the test's handler (which makes the real code produce the message); provider
//!   states are set up by the same handler, in-process, on the test's own database.

use std::{
    collections::HashMap,
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use pact_models::{bodies::OptionalBody, provider_states::ProviderState, v4::http_parts::HttpRequest};
use pact_verifier::{
    FilterInfo, PactSource, ProviderInfo, ProviderTransport, VerificationOptions,
    callback_executors::{ProviderStateExecutor, RequestFilterExecutor},
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// The project the HTTP pacts act in; provider tests mint their tokens for it.
pub const PROJECT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";

/// RFC 3339 instants as the messages carry them.
pub const INSTANT: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$";
/// A lower-case hyphenated UUID.
pub const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// Once per test process: pact's HTTP stack and the broker client bring two TLS crypto
/// providers, so rustls needs to be told which one to use. (The Makefile sets
/// `PACT_DO_NOT_TRACK=true`: pact must not phone home.)
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// `pacts/` at the repository root. Taken from the running test's crate (cargo and nextest
/// set `CARGO_MANIFEST_DIR` at run time) before this crate's own build-time directory: worktrees
/// that share a target directory share this crate's build, and the build-time path then names
/// whichever worktree built it last.
pub fn pacts_dir() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("../../pacts")
}

/// The committed pact between `consumer` and `provider`.
pub fn pact_file(consumer: &str, provider: &str) -> PathBuf {
    pacts_dir().join(format!("{consumer}-{provider}.json"))
}

/// Where a consumer test lets pact_consumer write its pact.
pub struct PactOutput {
    dir: tempfile::TempDir,
}

impl PactOutput {
    pub fn new() -> anyhow::Result<Self> {
        init();
        Ok(Self { dir: tempfile::tempdir()? })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Compares the pact the consumer test wrote with the committed one; with `VBS_WRITE_PACTS=1`
    /// writes it to `pacts/` instead. Returns the number of interactions.
    pub fn settle(&self, consumer: &str, provider: &str) -> anyhow::Result<usize> {
        let name = format!("{consumer}-{provider}.json");
        let written = std::fs::read_to_string(self.dir.path().join(&name))
            .with_context(|| format!("the consumer test wrote no {name}"))?;
        let mut fresh: Value = serde_json::from_str(&written)?;
        normalise(&mut fresh);
        let interactions = fresh["interactions"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(interactions > 0, "{name} has no interactions");
        let committed_path = pact_file(consumer, provider);
        if std::env::var("VBS_WRITE_PACTS").is_ok_and(|v| v == "1") {
            std::fs::create_dir_all(pacts_dir())?;
            std::fs::write(&committed_path, format!("{}\n", serde_json::to_string_pretty(&fresh)?))?;
            return Ok(interactions);
        }
        let committed: Value = std::fs::read_to_string(&committed_path)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        anyhow::ensure!(
            committed == fresh,
            "pacts/{name} differs from what the consumer now expects: run `VBS_WRITE_PACTS=1 make test`, \
             review the diff and commit it (providers verify the committed file)"
        );
        Ok(interactions)
    }
}

/// Drops what differs between runs without changing the contract: interaction keys are hashes
/// that some pact versions fill in late.
fn normalise(pact: &mut Value) {
    if let Some(list) = pact.get_mut("interactions").and_then(Value::as_array_mut) {
        for interaction in list {
            if let Some(obj) = interaction.as_object_mut() {
                obj.remove("key");
            }
        }
    }
}

/// What the verifier asks of the provider under test.
#[derive(Debug, Clone)]
pub enum Callback {
    /// Produce the message of the interaction `description` with its provider states set up;
    /// the handler answers with the message body as JSON.
    Message { description: String, states: Vec<String> },
    /// Set up (or tear down) a provider state; the handler answers with a JSON object of values
    /// that the pact's `fromProviderState` expressions use (or `null`).
    State { name: String, params: HashMap<String, Value>, setup: bool },
}

type Reply = oneshot::Sender<Result<Value, String>>;

/// Verifies the committed pact `consumer`-`provider` against the provider under test, whose
/// HTTP API (if the pact has HTTP interactions) listens on `http_port`; `token` replaces the
/// pact's example `X-Auth-Token`. Every interaction of the file must be verified and pass.
pub async fn verify<F, Fut>(
    consumer: &str,
    provider: &str,
    http_port: Option<u16>,
    token: Option<String>,
    mut handler: F,
) -> anyhow::Result<usize>
where
    F: FnMut(Callback) -> Fut,
    Fut: Future<Output = anyhow::Result<Value>>,
{
    init();
    let file = pact_file(consumer, provider);
    let pact: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?,
    )?;
    let expected = pact["interactions"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(expected > 0, "{} has no interactions", file.display());

    let (tx, mut rx) = mpsc::unbounded_channel::<(Callback, Reply)>();
    let messages = MessageEndpoint::start(tx.clone())?;
    let info = provider_info(provider, messages.port, http_port);
    let options = VerificationOptions {
        request_filter: Some(Arc::new(TokenFilter { token })),
        request_timeout: 30_000,
        no_pacts_is_error: true,
        ..VerificationOptions::default()
    };
    let states = Arc::new(ChannelStates { tx });

    // Boxed: the verifier's future is large, and this one is awaited inside tests' futures.
    let mut verification = Box::pin(pact_verifier::verify_provider_async(
        info,
        vec![PactSource::File(file.display().to_string())],
        FilterInfo::None,
        vec![],
        &options,
        None,
        &states,
        None,
    ));
    let result = loop {
        tokio::select! {
            result = &mut verification => break result?,
            Some((callback, reply)) = rx.recv() => {
                let answer = handler(callback).await.map_err(|e| format!("{e:#}"));
                let _ = reply.send(answer);
            }
        }
    };
    messages.stop().await;

    check_results(&result, provider, &file, expected)?;
    Ok(expected)
}

/// The provider as the verifier reaches it: messages at our endpoint, HTTP at `http_port`.
fn provider_info(provider: &str, messages_port: u16, http_port: Option<u16>) -> ProviderInfo {
    let mut transports = vec![ProviderTransport {
        transport: "message".into(),
        port: Some(messages_port),
        path: Some("/messages".into()),
        scheme: Some("http".into()),
    }];
    if let Some(port) = http_port {
        transports.push(ProviderTransport {
            transport: "http".into(),
            port: Some(port),
            path: None,
            scheme: Some("http".into()),
        });
    }
    #[allow(deprecated, reason = "ProviderInfo still has the pre-transport fields")]
    ProviderInfo {
        name: provider.into(),
        host: "127.0.0.1".into(),
        port: http_port,
        transports,
        ..ProviderInfo::default()
    }
}

/// Every interaction of the file was verified, and passed.
fn check_results(
    result: &pact_verifier::verification_result::VerificationExecutionResult,
    provider: &str,
    file: &std::path::Path,
    expected: usize,
) -> anyhow::Result<()> {
    let failures: Vec<String> = result
        .interaction_results
        .iter()
        .filter(|r| r.result.is_err())
        .map(|r| r.interaction_description.clone())
        .collect();
    anyhow::ensure!(
        result.result && failures.is_empty(),
        "{provider} does not satisfy {}: {failures:?}\n{}",
        file.display(),
        result.output.join("\n")
    );
    anyhow::ensure!(
        result.interaction_results.len() == expected,
        "verified {} of the {expected} interactions of {}",
        result.interaction_results.len(),
        file.display()
    );
    Ok(())
}

/// Puts a valid token on every replayed request: the pact records an example token only.
#[derive(Debug)]
struct TokenFilter {
    token: Option<String>,
}

impl RequestFilterExecutor for TokenFilter {
    fn call(self: Arc<Self>, request: &HttpRequest) -> HttpRequest {
        let mut request = request.clone();
        if let Some(token) = &self.token {
            let headers = request.headers.get_or_insert_with(HashMap::new);
            headers.retain(|name, _| !name.eq_ignore_ascii_case("x-auth-token"));
            headers.insert("X-Auth-Token".into(), vec![token.clone()]);
        }
        request
    }

    fn call_non_http(
        &self,
        body: &OptionalBody,
        metadata: &HashMap<String, either::Either<Value, bytes::Bytes>>,
    ) -> (OptionalBody, HashMap<String, either::Either<Value, bytes::Bytes>>) {
        (body.clone(), metadata.clone())
    }
}

/// Hands provider-state set-ups to the test's handler.
#[derive(Debug)]
struct ChannelStates {
    tx: mpsc::UnboundedSender<(Callback, Reply)>,
}

#[async_trait::async_trait]
impl ProviderStateExecutor for ChannelStates {
    async fn call(
        self: Arc<Self>,
        _interaction_id: Option<String>,
        state: &ProviderState,
        setup: bool,
        _client: Option<&reqwest::Client>,
    ) -> anyhow::Result<HashMap<String, Value>> {
        // The verifier asks with an empty state for interactions that name none.
        if state.name.is_empty() {
            return Ok(HashMap::new());
        }
        let callback = Callback::State { name: state.name.clone(), params: state.params.clone(), setup };
        let answer = ask(&self.tx, callback).await?;
        Ok(match answer {
            Value::Object(map) => map.into_iter().collect(),
            _ => HashMap::new(),
        })
    }

    fn teardown(&self) -> bool {
        false
    }
}

async fn ask(tx: &mpsc::UnboundedSender<(Callback, Reply)>, callback: Callback) -> anyhow::Result<Value> {
    let (reply, answer) = oneshot::channel();
    tx.send((callback, reply)).map_err(|_| anyhow::anyhow!("the verification ended"))?;
    answer.await?.map_err(|e| anyhow::anyhow!(e))
}

/// The endpoint pact_verifier asks for messages: `POST /messages` with the interaction's
/// description and provider states; answers with the message body the handler produced.
struct MessageEndpoint {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl MessageEndpoint {
    fn start(tx: mpsc::UnboundedSender<(Callback, Reply)>) -> anyhow::Result<Self> {
        use actix_web::{App, HttpResponse, HttpServer, web};

        async fn produce(
            tx: web::Data<mpsc::UnboundedSender<(Callback, Reply)>>,
            body: web::Json<Value>,
        ) -> HttpResponse {
            let description = body["description"].as_str().unwrap_or_default().to_owned();
            let states = body["providerStates"]
                .as_array()
                .map(|list| list.iter().filter_map(|s| s["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            match ask(&tx, Callback::Message { description, states }).await {
                Ok(message) => HttpResponse::Ok().json(message),
                Err(e) => HttpResponse::InternalServerError().body(format!("{e:#}")),
            }
        }

        let data = web::Data::new(tx);
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/messages", web::post().to(produce))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs().first().map(|a| a.port()).context("no address bound")?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, handle })
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}
