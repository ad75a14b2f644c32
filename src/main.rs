//! The `herald` command: a channel-less Lightning Network peer that syncs, validates, stores
//! and serves gossip.

mod address;
mod admin;
mod api;
mod client;
mod config;
mod http;
mod import;
mod ldk;
mod node;
mod offers_api;
mod peer_view;
mod peers;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use herald_gossip::import::Format;
use hyper::Method;
use serde_json::json;

use crate::config::Config;

/// herald: a Lightning Network gossip server.
///
/// herald is a BOLT 8 peer with no channels. It syncs the channel graph from its peers, checks
/// every message (signatures, chain, funding outputs when a chain backend is configured),
/// stores the exact bytes in redb and serves the graph to peers and over HTTP.
///
/// Configuration: built-in defaults, then the TOML file given with --config, then HERALD_*
/// environment variables (see docs/configuration.md), then these flags.
#[derive(Parser, Debug)]
#[command(name = "herald", version, propagate_version = true)]
struct Cli {
	#[command(flatten)]
	global: GlobalArgs,
	#[command(subcommand)]
	command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone, Default)]
struct GlobalArgs {
	/// TOML configuration file.
	#[arg(long, global = true, value_name = "FILE")]
	config: Option<PathBuf>,
	/// Log output: text or json.
	#[arg(long, global = true, value_name = "FORMAT")]
	log_format: Option<String>,
	/// Log filter (tracing syntax), e.g. info or debug,ldk=info.
	#[arg(long, global = true, value_name = "FILTER")]
	log: Option<String>,
	/// Colour in text logs: auto (only on a terminal, and not when NO_COLOR is set), always or
	/// never.
	#[arg(long, global = true, value_name = "WHEN")]
	log_color: Option<String>,
}

/// Options of the subcommands that open herald's data directory (not of `status` and
/// `connect`, which talk to a running herald over HTTP).
#[derive(Args, Debug, Clone, Default)]
struct NodeArgs {
	/// Data directory (node key, redb database). Default ./herald-data.
	#[arg(long, global = true, value_name = "DIR")]
	data_dir: Option<PathBuf>,
	/// Bitcoin network: bitcoin (alias mainnet), testnet, testnet4, signet or regtest. Default
	/// bitcoin.
	#[arg(long, global = true, value_name = "NETWORK")]
	network: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
	/// Run herald: connect to peers, sync and serve the graph until SIGINT/SIGTERM.
	Run(RunArgs),
	/// Load gossip files into the store through the same validation as gossip from peers.
	///
	/// The whole import is one transaction: a corrupt file (reported with its offset) or an
	/// interrupted import leaves the store as it was. Stop a running herald first.
	Import(ImportArgs),
	/// Ask a running herald to connect to a peer and keep the connection up.
	Connect(ConnectArgs),
	/// Show a running herald's node, peers, graph, sync state, gossip 2.0, onion mailbox and
	/// every part's status (offers and probes, registry, DNS zones, resolver).
	Status(ClientArgs),
	/// Print the effective configuration (defaults, file, environment and flags merged).
	Config(ConfigArgs),
	/// Manage the gateways of the registry (docs/offers.md): through the running herald's admin
	/// API, or on the database when herald is stopped.
	Gateway(GatewayArgs),
	/// BIP-353 zones (docs/bip353.md).
	Dns(DnsArgs),
}

#[derive(Args, Debug)]
struct GatewayArgs {
	#[command(flatten)]
	node: NodeArgs,
	#[command(subcommand)]
	command: GatewayCommand,
}

#[derive(Args, Debug)]
struct DnsArgs {
	#[command(flatten)]
	node: NodeArgs,
	#[command(subcommand)]
	command: DnsCommand,
}

#[derive(Subcommand, Debug)]
enum GatewayCommand {
	/// Add a gateway owning DOMAIN(s); prints its API token (once) as the last line.
	Add {
		/// Gateway name: 1 to 64 of a-z 0-9 - _.
		name: String,
		/// A domain whose names the gateway registers (repeatable).
		#[arg(long = "domain", value_name = "DOMAIN", required = true)]
		domains: Vec<String>,
		#[command(flatten)]
		client: ClientArgs,
	},
	/// List gateways with their domains, names and live tokens.
	List {
		#[command(flatten)]
		client: ClientArgs,
	},
	/// Revoke a gateway: its tokens stop working at once.
	Revoke {
		/// Gateway name.
		name: String,
		#[command(flatten)]
		client: ClientArgs,
	},
	/// Issue another API token for a gateway; prints it as the last line.
	Token {
		/// Gateway name.
		name: String,
		#[command(flatten)]
		client: ClientArgs,
	},
}

#[derive(Subcommand, Debug)]
enum DnsCommand {
	/// Print the DS record to hand to the parent zone (the registrar), generating the zone's
	/// signing key if it has none yet. The DS record is the last line.
	Ds {
		/// The zone, e.g. pay.example.com.
		zone: String,
	},
}

#[derive(Args, Debug)]
struct RunArgs {
	#[command(flatten)]
	node: NodeArgs,
	/// BOLT 8 listen address. Default 0.0.0.0:9735.
	#[arg(long, value_name = "HOST:PORT")]
	p2p_listen: Option<String>,
	/// HTTP listen address (API, /metrics, /health). Default 127.0.0.1:8080.
	#[arg(long, value_name = "HOST:PORT")]
	http_listen: Option<String>,
	/// A peer to keep connected (repeatable), added to the configured ones.
	#[arg(long = "peer", value_name = "NODE_ID@HOST:PORT")]
	peers: Vec<String>,
	/// Chain backend: none, bitcoind-rest, bitcoind-rpc or esplora.
	#[arg(long, value_name = "BACKEND")]
	chain_backend: Option<String>,
	/// Chain backend URL.
	#[arg(long, value_name = "URL")]
	chain_url: Option<String>,
	/// The embedded BIP-353 DNS server's address (UDP and TCP). Default 0.0.0.0:53.
	#[arg(long, value_name = "HOST:PORT")]
	dns_listen: Option<String>,
	/// A zone herald publishes BIP-353 names in (repeatable, added to the configured ones).
	#[arg(long = "dns-zone", value_name = "ZONE")]
	dns_zones: Vec<String>,
}

#[derive(Args, Debug)]
struct ConfigArgs {
	#[command(flatten)]
	node: NodeArgs,
	/// List every option's HERALD_* environment variable instead.
	#[arg(long)]
	env: bool,
}

#[derive(Args, Debug)]
struct ImportArgs {
	#[command(flatten)]
	node: NodeArgs,
	/// Input format: cln-gossip-store (Core Lightning's gossip_store), gsp (raw message streams),
	/// or gossmap (the GOSSMAP_COMPRESSv1 topology, signed with generated keys).
	#[arg(long, value_name = "FORMAT")]
	format: Format,
	/// Files to import (for gossmap: the .compressed file; its -node-map.xz is found beside it).
	#[arg(required = true, value_name = "FILE")]
	files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ClientArgs {
	/// herald's HTTP API. Default: http:// + the configured http.listen.
	#[arg(long, value_name = "URL")]
	url: Option<String>,
}

#[derive(Args, Debug)]
struct ConnectArgs {
	/// The peer, NODE_ID@HOST:PORT.
	#[arg(value_name = "NODE_ID@HOST:PORT")]
	peer: String,
	#[command(flatten)]
	client: ClientArgs,
}

fn main() -> ExitCode {
	let cli = Cli::parse();
	let config = match load_config(&cli) {
		Ok(config) => config,
		Err(e) => {
			eprintln!("herald: configuration: {e}");
			return ExitCode::from(2);
		}
	};
	init_logging(&config);
	for warning in Config::unknown_env_warnings(std::env::vars()) {
		tracing::warn!("{warning}");
	}
	let runs_the_node = matches!(cli.command, Command::Run(_));
	let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
	let result = runtime.block_on(execute(cli.command, config));
	match result {
		Ok(()) => ExitCode::SUCCESS,
		Err(e) => {
			// Once: the node's log is its output (journald keeps it); a command's is its stderr.
			if runs_the_node {
				tracing::error!("{e}");
			} else {
				eprintln!("herald: {e}");
			}
			ExitCode::FAILURE
		}
	}
}

/// The options of the subcommand that opens the data directory, if it does.
fn node_args(command: &Command) -> Option<&NodeArgs> {
	match command {
		Command::Run(args) => Some(&args.node),
		Command::Import(args) => Some(&args.node),
		Command::Config(args) => Some(&args.node),
		Command::Gateway(args) => Some(&args.node),
		Command::Dns(args) => Some(&args.node),
		Command::Connect(_) | Command::Status(_) => None,
	}
}

fn load_config(cli: &Cli) -> Result<Config, config::ConfigError> {
	let mut config = Config::load(cli.global.config.as_deref(), std::env::vars())?;
	let g = &cli.global;
	if let Some(node) = node_args(&cli.command) {
		if let Some(dir) = &node.data_dir {
			config.data_dir = dir.clone();
		}
		if let Some(network) = &node.network {
			config.network = network.clone();
		}
	}
	if let Some(color) = &g.log_color {
		config.log_color = color.clone();
	}
	if let Some(format) = &g.log_format {
		config.log_format = format.clone();
	}
	if let Some(filter) = &g.log {
		config.log_filter = filter.clone();
	}
	if let Command::Run(run) = &cli.command {
		if let Some(listen) = &run.p2p_listen {
			config.p2p.listen = listen.clone();
		}
		if let Some(listen) = &run.http_listen {
			config.http.listen = listen.clone();
		}
		config.p2p.peers.extend(run.peers.iter().cloned());
		if let Some(backend) = &run.chain_backend {
			config.chain.backend = backend.clone();
		}
		if let Some(listen) = &run.dns_listen {
			config.dns.listen = listen.clone();
		}
		config.dns.zones.extend(run.dns_zones.iter().cloned());
		if let Some(url) = &run.chain_url {
			config.chain.url = url.clone();
		}
	}
	config.canonicalize()?;
	config.validate()?;
	Ok(config)
}

fn init_logging(config: &Config) {
	let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
		.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
	let builder = tracing_subscriber::fmt()
		.with_env_filter(filter)
		.with_writer(std::io::stderr)
		.with_ansi(log_in_color(config));
	if config.log_format == "json" {
		builder.json().init();
	} else {
		builder.init();
	}
}

/// `log_color`: auto colours only a terminal, and never when `NO_COLOR` is set to anything
/// (no-color.org); always and never are what they say.
fn log_in_color(config: &Config) -> bool {
	use std::io::IsTerminal;
	match config.log_color.as_str() {
		"always" => true,
		"never" => false,
		_ => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
	}
}

async fn execute(command: Command, config: Config) -> Result<(), String> {
	match command {
		Command::Run(_) => run::run(config).await.map_err(|e| e.to_string()),
		Command::Import(args) => {
			let summary = import::run(&config, args.format, &args.files).await.map_err(|e| e.to_string())?;
			print!("{summary}");
			Ok(())
		}
		Command::Connect(args) => {
			let base = api_base(&config, &args.client);
			let answer = client::call(
				&base,
				&config.http.admin_token,
				Method::POST,
				"/v1/peers",
				Some(json!({"peer": args.peer})),
			)
			.await?;
			let added = answer["added"].as_bool().unwrap_or(false);
			println!(
				"{} {}",
				if added { "connecting to" } else { "already keeping" },
				answer["peer"].as_str().unwrap_or("")
			);
			Ok(())
		}
		Command::Status(args) => status(&config, &args).await,
		Command::Config(args) if args.env => {
			for (env, path) in Config::env_names() {
				println!("{env}\t{path}");
			}
			Ok(())
		}
		Command::Config(_) => {
			print!("{}", toml::to_string_pretty(&config.redacted()).map_err(|e| e.to_string())?);
			Ok(())
		}
		Command::Gateway(args) => gateway(&config, args.command).await,
		Command::Dns(DnsArgs { command: DnsCommand::Ds { zone }, .. }) => {
			let dir = config.data_dir.join("dns");
			node::prepare_data_dir(&config.data_dir).map_err(|e| e.to_string())?;
			node::prepare_data_dir(&dir).map_err(|e| e.to_string())?;
			println!("{}", herald_bip353::zone::ds_record(&dir, &zone).map_err(|e| e.to_string())?);
			Ok(())
		}
	}
}

/// `herald gateway ...`: the running herald's admin API when herald holds the database (or
/// `--url` names one), the database itself when herald is stopped.
async fn gateway(config: &Config, command: GatewayCommand) -> Result<(), String> {
	use admin::AdminCall;
	let (call, client) = match command {
		GatewayCommand::Add { name, domains, client } => (AdminCall::Add { name, domains }, client),
		GatewayCommand::List { client } => (AdminCall::List, client),
		GatewayCommand::Revoke { name, client } => (AdminCall::Revoke(name), client),
		GatewayCommand::Token { name, client } => (AdminCall::Token(name), client),
	};
	let offline = match client.url {
		None => admin::open_registry_offline(config)?,
		Some(_) => None,
	};
	let answer = match offline {
		Some(registry) => admin::apply(&registry, call).map_err(|e| e.to_string())?,
		None => {
			let (method, path, body) = call.request();
			client::call(&api_base(config, &client), &config.http.admin_token, method, &path, body).await?
		}
	};
	admin::print_answer(&answer);
	Ok(())
}

fn api_base(config: &Config, args: &ClientArgs) -> String {
	args.url.clone().unwrap_or_else(|| {
		let listen = config.http_listen();
		let host =
			if listen.ip().is_unspecified() { "127.0.0.1".to_string() } else { listen.ip().to_string() };
		if listen.is_ipv6() {
			format!("http://[{host}]:{}", listen.port())
		} else {
			format!("http://{host}:{}", listen.port())
		}
	})
}

async fn status(config: &Config, args: &ClientArgs) -> Result<(), String> {
	let base = api_base(config, args);
	let token = &config.http.admin_token;
	let node = client::call(&base, token, Method::GET, "/v1/node", None).await?;
	let peers = client::call(&base, token, Method::GET, "/v1/peers", None).await?;
	let graph = client::call(&base, token, Method::GET, "/v1/graph", None).await?;
	println!("node");
	for key in ["node_id", "network", "p2p_listen", "http_listen", "chain_backend", "version"] {
		println!("  {key}: {}", node[key].as_str().unwrap_or("-"));
	}
	let peers = peers["peers"].as_array().cloned().unwrap_or_default();
	println!("peers: {}", peers.len());
	for peer in &peers {
		let direction = if peer["inbound"].as_bool().unwrap_or(false) { "inbound" } else { "outbound" };
		println!(
			"  {} {direction} {}",
			peer["node_id"].as_str().unwrap_or("?"),
			peer["address"].as_str().unwrap_or("-")
		);
	}
	println!("graph");
	for key in
		["nodes", "channels", "channels_verified", "channels_unverified", "channel_updates", "last_update"]
	{
		println!("  {key}: {}", graph[key]);
	}
	println!("sync");
	for peer in graph["sync"].as_array().cloned().unwrap_or_default() {
		println!(
			"  {} {} announced={} requested={}",
			peer["node_id"].as_str().unwrap_or("?"),
			peer["phase"].as_str().unwrap_or("?"),
			peer["scids_announced"],
			peer["scids_requested"]
		);
	}
	match &graph["gossip_v2"] {
		serde_json::Value::Object(v2) => {
			println!("gossip_v2");
			for key in ["verify", "header_tip", "channels", "nodes", "peers"] {
				let value = v2.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
				println!("  {key}: {}", value.as_deref().unwrap_or("-"));
			}
		}
		_ => println!("gossip_v2: off"),
	}
	// Set reconciliation (docs/reconciliation.md): absent when it is off or herald is older.
	if let Ok(status) = client::call(&base, token, Method::GET, "/v1/status", None).await {
		for peer in status["reconcile"]["peers"].as_array().cloned().unwrap_or_default() {
			println!(
				"  reconcile {} {} passes={} last={} differences={} fallbacks={}",
				peer["node_id"].as_str().unwrap_or("?"),
				peer["state"].as_str().unwrap_or("?"),
				peer["passes"],
				peer["last_outcome"].as_str().unwrap_or("-"),
				peer["differences"],
				peer["fallbacks"]
			);
		}
	}
	// An older herald has no /v1/onion: say so rather than fail the whole status.
	match client::call(&base, token, Method::GET, "/v1/onion", None).await {
		Ok(onion) => print_mailbox(&onion["mailbox"]),
		Err(e) => println!("mailbox: unavailable ({e})"),
	}
	match client::call(&base, token, Method::GET, "/v1/status", None).await {
		Ok(status) => print_part_status(&status),
		Err(e) => println!("parts: unavailable ({e})"),
	}
	Ok(())
}

/// Every part's own status section from `/v1/status` (offers and their probes, the registry,
/// the DNS zones, the resolver...), except what the sections above already print.
fn print_part_status(status: &serde_json::Value) {
	const SHOWN_ABOVE: [&str; 4] = ["node", "peers", "gossip", "onion"];
	let Some(parts) = status.as_object() else { return };
	for (part, view) in parts.iter().filter(|(name, _)| !SHOWN_ABOVE.contains(&name.as_str())) {
		println!("{part}");
		match view.as_object() {
			Some(fields) => {
				for (key, value) in fields {
					print_status_value(key, value);
				}
			}
			None => println!("  {view}"),
		}
	}
}

/// One `key: value` line; a list of objects (probe results, zones) gets one line per item.
fn print_status_value(key: &str, value: &serde_json::Value) {
	match value {
		serde_json::Value::Array(items) if items.iter().all(|i| i.is_object()) => {
			println!("  {key}: {}", items.len());
			for item in items {
				let fields: Vec<String> = item
					.as_object()
					.into_iter()
					.flatten()
					.filter(|(_, v)| !v.is_null())
					.map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
					.collect();
				println!("    {}", fields.join(" "));
			}
		}
		serde_json::Value::String(text) => println!("  {key}: {text}"),
		other => println!("  {key}: {other}"),
	}
}

/// The `mailbox` section of `herald status`: what the onion relay holds for offline peers.
fn print_mailbox(mailbox: &serde_json::Value) {
	println!("mailbox");
	println!("  enabled: {}", mailbox["enabled"]);
	let limits = &mailbox["limits"];
	println!("  messages: {} of {}", mailbox["messages"], limits["total_messages"]);
	println!("  bytes: {} of {}", mailbox["bytes"], limits["total_bytes"]);
	println!("  peers: {}", mailbox["peers"]);
	println!("  known_peers: {}", mailbox["known_peers"]);
}
