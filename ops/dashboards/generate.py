#!/usr/bin/env python3
"""Generates Tern's Grafana dashboards (ops/dashboards/*.json) with grafana-foundation-sdk
(`pip install 'grafana-foundation-sdk==1769699379!11.6.0'`: the build for Grafana 11.6).

Run `python3 ops/dashboards/generate.py` after changing a panel (CI fails when the JSON files
differ from what this script writes: `check.py`). Every query selects the nodes with
the dashboard's `instance` variable; `$__rate_interval` is Grafana's rate window. The queries
are also checked as PromQL by promtool and against a live scrape (tests/tests/prometheus_alerts.rs).
"""

import json
from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh

HERE = Path(__file__).resolve().parent
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[$__rate_interval]"


def m(metric, **labels):
    """`metric{instance=~"$instance", labels...}`; a value starting with `~`, `!~` or `!` makes
    a regex, negative regex or negative matcher."""
    parts = ['instance=~"$instance"']
    for k, v in labels.items():
        k = k.rstrip("_")
        if v.startswith("~"):
            parts.append(f'{k}=~"{v[1:]}"')
        elif v.startswith("!~"):
            parts.append(f'{k}!~"{v[2:]}"')
        elif v.startswith("!"):
            parts.append(f'{k}!="{v[1:]}"')
        else:
            parts.append(f'{k}="{v}"')
    return f"{metric}{{{', '.join(parts)}}}"


def rate(metric, by=None, **labels):
    inner = f"rate({m(metric, **labels)}{RATE})"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, histogram, by=None, **labels):
    keys = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({keys}) (rate({m(histogram + '_bucket', **labels)}{RATE})))"


class Board:
    """A dashboard laid out in rows of panels, two or four to a row."""

    def __init__(self, uid, title, description):
        self.b = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["tern"])
            .refresh("30s")
            .time("now-6h", "now")
            .timezone("browser")
            .with_variable(
                dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
            )
            .with_variable(
                dashboard.QueryVariable("instance")
                .label("Node")
                .datasource(DS)
                .query('label_values(tern_build_info, instance)')
                .multi(True)
                .include_all(True)
                .all_value(".*")
                .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            )
        )
        self.next_id = 1
        # Where the next panel goes, and the height of the line being filled.
        self.y = 0
        self.x = 0
        self.line = 0

    def row(self, title):
        if self.x > 0:
            self.y += self.line
            self.x = 0
        self.b = self.b.with_row(dashboard.Row(title).id(self.next_id).grid_pos(GridPos(h=1, w=24, x=0, y=self.y)))
        self.next_id += 1
        self.y += 1
        self.x = 0

    def _place(self, panel, width, height):
        if self.x + width > 24:
            self.x = 0
            self.y += self.line
        panel = panel.id(self.next_id).datasource(DS).grid_pos(
            GridPos(h=height, w=width, x=self.x, y=self.y)
        )
        self.next_id += 1
        self.line = height if self.x == 0 else max(self.line, height)
        self.x += width
        self.b = self.b.with_panel(panel)

    def graph(self, title, queries, unit="short", width=12, description=""):
        """A time series of `queries`: [(expr, legend)]."""
        p = (
            timeseries.Panel()
            .title(title)
            .description(description)
            .unit(unit)
            .line_width(1)
            .fill_opacity(10)
            .legend(common.VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM))
        )
        for i, (expr, legend) in enumerate(queries):
            p = p.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + i)))
        self._place(p, width, 8)

    def number(self, title, expr, unit="short", description=""):
        p = (
            stat.Panel()
            .title(title)
            .description(description)
            .unit(unit)
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
            .with_target(prometheus.Dataquery().expr(expr).instant().ref_id("A"))
        )
        self._place(p, 6, 4)

    def json(self):
        return json.loads(JSONEncoder(sort_keys=True, indent=2).encode(self.b.build()))


def overview():
    b = Board("tern-overview", "Tern / Overview", "Mail in and out, errors, the queue and sessions of every node.")
    b.row("Now")
    b.number("Nodes ready", f"sum({m('tern_node_ready')})")
    b.number("Queued (not held)", f"sum({m('tern_queue_entries', status='!held')})")
    b.number("Oldest queued", f"max({m('tern_queue_oldest_seconds', status='!held')})", unit="s")
    b.number("Suspended destinations", f"max({m('tern_queue_suspended_destinations')})")
    b.row("Mail")
    b.graph("Mail in", [(rate("tern_smtp_messages_total", outcome="accepted"), "accepted"),
                        (rate("tern_smtp_messages_total", outcome="!accepted"), "refused")], unit="reqps",
            description="SMTP messages accepted (every listener) and refused, per second.")
    b.graph("Mail out", [(rate("tern_queue_recipients_total", by="result"), "{{result}}")], unit="reqps",
            description="Outbound recipients per second by result.")
    b.row("Errors")
    b.graph("SMTP replies 4xx/5xx", [(rate("tern_smtp_commands_total", by="class", class_="~4xx|5xx"), "{{class}}")], unit="reqps")
    b.graph("Store commit errors", [(rate("tern_store_commits_total", by="outcome", outcome="!ok"), "{{outcome}}")], unit="reqps",
            description="Commits that did not succeed, by outcome (not_committed: conflicts, retried).")
    b.row("Queue and sessions")
    b.graph("Queue", [(f"sum by (status) ({m('tern_queue_entries')})", "{{status}}")])
    b.graph("Sessions", [(f"sum({m('tern_smtp_sessions_active')})", "SMTP"),
                         (f"sum({m('tern_imap_sessions_active')})", "IMAP"),
                         (f"sum({m('tern_pop3_sessions_active')})", "POP3")])
    return b


def smtp():
    b = Board("tern-smtp", "Tern / SMTP", "Sessions, commands, messages, ingest latency, AUTH and inbound filtering.")
    b.row("Sessions")
    b.graph("Open sessions", [(f"sum by (listener) ({m('tern_smtp_sessions_active')})", "{{listener}}")])
    b.graph("New sessions", [(rate("tern_smtp_sessions_total", by="listener"), "{{listener}}")], unit="reqps")
    b.graph("Connections refused", [(rate("tern_smtp_connections_refused_total", by="reason"), "{{reason}}")], unit="reqps")
    b.graph("Session limit used", [(f"sum by (instance) ({m('tern_smtp_sessions_active')}) / on (instance) group_left {m('tern_sessions_limit', protocol='smtp')}", "{{instance}}")], unit="percentunit")
    b.row("Commands and messages")
    b.graph("Commands", [(rate("tern_smtp_commands_total", by="verb, class"), "{{verb}} {{class}}")], unit="reqps")
    b.graph("Messages", [(rate("tern_smtp_messages_total", by="outcome"), "{{outcome}}")], unit="reqps")
    b.graph("Ingest latency", [(quantile(0.5, "tern_smtp_ingest_seconds", by="listener"), "p50 {{listener}}"),
                               (quantile(0.99, "tern_smtp_ingest_seconds", by="listener"), "p99 {{listener}}")], unit="s",
            description="From the end of DATA to the reply, the store commit included.")
    b.graph("Bytes received", [(rate("tern_smtp_received_bytes_total"), "bytes")], unit="Bps")
    b.row("Authentication and refusals")
    b.graph("AUTH", [(rate("tern_smtp_auth_total", by="result"), "{{result}}")], unit="reqps")
    b.graph("Refused for storage or memory", [(rate("tern_storage_refusals_total", by="protocol"), "storage {{protocol}}"),
                                             (rate("tern_input_budget_refusals_total", by="protocol"), "memory {{protocol}}")], unit="reqps")
    b.graph("Login bans", [(rate("tern_login_bans_total", by="kind"), "{{kind}}")], unit="reqps",
            description="Bans after too many failed logins, by client address (ip) or account ([security]).")
    b.row("Filtering")
    b.graph("Policy check verdicts", [(rate("tern_smtp_check_verdicts_total", by="check, verdict", verdict="!pass"), "{{check}} {{verdict}}")],
            unit="reqps", description="What the inbound checks ([smtp.checks]) decided other than pass.")
    b.graph("Policy check latency p99", [(quantile(0.99, "tern_smtp_check_seconds", by="check"), "{{check}}")], unit="s")
    b.graph("Spam verdicts", [(rate("tern_spam_verdicts_total", by="verdict"), "{{verdict}}")], unit="reqps")
    b.graph("DNS cache hit rate", [(f"{rate('tern_dns_cache_lookups_total', result='hit')} / {rate('tern_dns_cache_lookups_total')}", "hit rate")],
            unit="percentunit", description="Lookups of the checks and the outbound queue answered from the node's DNS cache.")
    b.graph("Antivirus scans", [(rate("tern_antivirus_scans_total", by="result"), "{{result}}")], unit="reqps")
    return b


def imap_pop3():
    b = Board("tern-imap-pop3", "Tern / IMAP and POP3", "Sessions, commands, IDLE notifications and logins.")
    b.row("IMAP")
    b.graph("Open sessions", [(f"sum by (listener) ({m('tern_imap_sessions_active')})", "{{listener}}"),
                              (f"sum({m('tern_imap_idle_sessions')})", "in IDLE")])
    b.graph("Commands", [(f"topk(10, {rate('tern_imap_commands_total', by='command, result')})", "{{command}} {{result}}")], unit="reqps")
    b.graph("IDLE notification latency", [(quantile(0.5, "tern_imap_notify_latency_seconds"), "p50"),
                                          (quantile(0.99, "tern_imap_notify_latency_seconds"), "p99")], unit="s",
            description="From a change committed to the IDLE session told.")
    b.graph("Mailbox actors", [(f"sum by (instance) ({m('tern_imap_mailbox_actors')})", "{{instance}}")])
    b.graph("Connections refused", [(rate("tern_imap_connections_refused_total", by="reason"), "IMAP {{reason}}"),
                                    (rate("tern_pop3_connections_refused_total", by="reason"), "POP3 {{reason}}")], unit="reqps")
    b.graph("Session limit used", [(f"sum by (instance) ({m('tern_imap_sessions_active')}) / on (instance) group_left {m('tern_sessions_limit', protocol='imap')}", "IMAP {{instance}}"),
                                   (f"sum by (instance) ({m('tern_pop3_sessions_active')}) / on (instance) group_left {m('tern_sessions_limit', protocol='pop3')}", "POP3 {{instance}}")], unit="percentunit")
    b.graph("Sessions ended by operators", [(f"sum by (protocol) (increase({m('tern_sessions_kicked_total')}[$__rate_interval]))", "{{protocol}}")],
            description="ternctl sessions kick, by protocol.")
    b.row("POP3")
    b.graph("Open sessions", [(f"sum by (listener) ({m('tern_pop3_sessions_active')})", "{{listener}}")])
    b.graph("Commands", [(rate("tern_pop3_commands_total", by="command, result"), "{{command}} {{result}}")], unit="reqps")
    b.graph("Messages sent and deleted", [(rate("tern_pop3_sent_bytes_total"), "bytes sent")], unit="Bps")
    b.graph("Deletions and lock conflicts", [(rate("tern_pop3_deleted_total"), "deleted"),
                                             (rate("tern_pop3_lock_conflicts_total"), "maildrop locked")], unit="reqps")
    b.row("Logins")
    b.graph("Password checks", [(rate("tern_password_checks_total", by="outcome"), "{{outcome}}")], unit="reqps",
            description="Every protocol's password checks (Argon2id) by outcome.")
    b.graph("Login cache", [(rate("tern_login_cache_lookups_total", by="result"), "{{result}}"),
                            (f"sum({m('tern_password_checks_waiting')})", "checks waiting")])
    return b


def queue():
    b = Board("tern-queue", "Tern / Outbound queue", "The queue by status, results and reasons, deliveries, suspensions and shards.")
    b.row("Queue")
    b.graph("Entries", [(f"sum by (status) ({m('tern_queue_entries')})", "{{status}}")])
    b.graph("Oldest entry", [(f"max by (status) ({m('tern_queue_oldest_seconds')})", "{{status}}")], unit="s")
    b.row("Deliveries")
    b.graph("Recipients by result and reason", [(rate("tern_queue_recipients_total", by="result, reason"), "{{result}} {{reason}}")], unit="reqps")
    b.graph("Delivery time", [(quantile(0.5, "tern_queue_delivery_seconds"), "p50"),
                              (quantile(0.99, "tern_queue_delivery_seconds"), "p99")], unit="s",
            description="From acceptance to delivery.")
    b.graph("Connections", [(rate("tern_queue_connections_total", by="result"), "{{result}}"),
                            (rate("tern_queue_sessions_total", by="tls"), "sessions tls={{tls}}")], unit="reqps")
    b.graph("Deliveries running", [(f"sum by (instance) ({m('tern_queue_deliveries_active')})", "{{instance}}"),
                                   (f"max({m('tern_queue_deliveries_limit')})", "limit per node")])
    b.graph("Outbound connections open", [(f"sum by (instance) ({m('tern_queue_connections_open')})", "{{instance}}")],
            description="SMTP connections the queue holds open (ternctl queue connections lists them).")
    b.graph("DSNs", [(rate("tern_queue_dsn_total", by="kind"), "{{kind}}")], unit="reqps")
    b.graph("Suspended destinations", [(f"max({m('tern_queue_suspended_destinations')})", "suspended"),
                                       (f"max({m('tern_queue_suspended_longest_seconds')}) / 60", "longest failing (minutes)")])
    b.row("Scans and shards")
    b.graph("Due and in flight", [(f"sum({m('tern_queue_due_entries')})", "due"),
                                  (f"sum({m('tern_queue_in_flight_entries')})", "in flight")])
    b.graph("Scan time", [(quantile(0.99, "tern_queue_scan_seconds", by="instance"), "p99 {{instance}}")], unit="s")
    b.graph("Shards held", [(f"sum by (instance) ({m('tern_queue_owned_shards')})", "{{instance}}"),
                            (f"max({m('tern_queue_shards')})", "shards")])
    b.graph("Fenced writes, shard moves, actor failures", [(rate("tern_queue_fenced_writes_total", by="write"), "fenced {{write}}"),
                                                          (rate("tern_queue_shard_moves_total", by="direction"), "shards {{direction}}"),
                                                          (rate("tern_queue_destination_actor_failures_total"), "actor failures")], unit="reqps")
    return b


def store():
    b = Board("tern-store", "Tern / Store", "Commits, latency, conflicts, disk and the data filesystem.")
    b.row("Commits")
    b.graph("Commit latency", [(quantile(0.5, "tern_store_commit_seconds", by="backend"), "p50 {{backend}}"),
                               (quantile(0.99, "tern_store_commit_seconds", by="backend"), "p99 {{backend}}")], unit="s")
    b.graph("Commits by outcome", [(rate("tern_store_commits_total", by="outcome"), "{{outcome}}")], unit="reqps")
    b.graph("Conflicts and retries", [(rate("tern_store_conflicts_total"), "conflicts"),
                                      (rate("tern_store_retries_total", by="reason"), "retries {{reason}}")], unit="reqps")
    b.graph("Transactions per group commit", [(f"sum({rate_raw('tern_store_group_commit_size_sum')}) / sum({rate_raw('tern_store_group_commit_size_count')})", "mean")])
    b.row("Health and space")
    b.graph("Healthy", [(f"min by (instance) ({m('tern_store_healthy')})", "{{instance}}")])
    b.graph("Data filesystem free", [(f"{m('tern_data_filesystem_bytes', kind='free')} / ignoring (kind) {m('tern_data_filesystem_bytes', kind='size')}", "bytes {{instance}}"),
                                     (f"{m('tern_data_filesystem_inodes', kind='free')} / ignoring (kind) {m('tern_data_filesystem_inodes', kind='size')}", "inodes {{instance}}")], unit="percentunit")
    b.graph("Store size on disk", [(f"sum by (instance) ({m('tern_store_disk_bytes')})", "{{instance}}")], unit="bytes")
    b.graph("Deleted mail reclaimed", [(f"max({m('tern_store_reclaim_backlog')})", "backlog (references)"),
                                       (rate("tern_store_reclaimed_blobs_total"), "bodies removed / s"),
                                       (rate("tern_store_reclaim_failures_total"), "failed pages / s")],
            description="Bodies of expunged mail waiting for the reclaimer, and its pace.")
    b.graph("Watches and buffered input", [(f"sum by (instance) ({m('tern_store_watches')})", "watches {{instance}}"),
                                           (f"sum by (instance) ({m('tern_input_buffered_bytes')}) / 1048576", "input MiB {{instance}}")])
    return b


def rate_raw(metric):
    return f"rate({m(metric)}{RATE})"


def cluster():
    b = Board("tern-cluster", "Tern / Cluster", "Raft, members, shards and clocks.")
    b.row("Raft")
    b.number("Leaders", f"sum({m('tern_cluster_raft_is_leader')})", description="Exactly 1 in a healthy cluster.")
    b.number("Members active", f"max({m('tern_cluster_members', state='active')})")
    b.number("Members down", f"max({m('tern_cluster_members', state='down')})")
    b.number("Term", f"max({m('tern_cluster_raft_term')})")
    b.graph("Leader", [(f"max by (instance) ({m('tern_cluster_raft_is_leader')})", "{{instance}}")])
    b.graph("Apply lag", [(f"{m('tern_cluster_raft_commit_index')} - {m('tern_cluster_raft_applied_index')}", "{{instance}}")],
            description="Committed Raft entries a member has not applied.")
    b.graph("Log index", [(f"max by (instance) ({m('tern_cluster_raft_last_log_index')})", "{{instance}}")])
    b.graph("RPC latency", [(quantile(0.99, "tern_cluster_raft_rpc_seconds", by="kind"), "p99 {{kind}}")], unit="s")
    b.row("Shards and failures")
    b.graph("Shards by member", [(f"sum by (instance) ({m('tern_cluster_owned_shards')})", "map {{instance}}"),
                                 (f"sum by (instance) ({m('tern_queue_owned_shards')})", "held {{instance}}")])
    b.graph("Shard moves", [(rate("tern_cluster_shard_moves_total", by="reason"), "{{reason}}")], unit="reqps")
    b.graph("Heartbeat and TLS failures", [(rate("tern_cluster_heartbeat_failures_total"), "RPC failures"),
                                           (rate("tern_cluster_tls_failures_total"), "TLS refused")], unit="reqps")
    b.graph("Clock skew", [(f"{m('tern_node_time_seconds')} - timestamp({m('tern_node_time_seconds')})", "{{instance}}")], unit="s",
            description="The node's clock against the scrape's.")
    return b


BOARDS = {
    "overview": overview,
    "smtp": smtp,
    "imap-pop3": imap_pop3,
    "queue": queue,
    "store": store,
    "cluster": cluster,
}


def render():
    return {name: json.dumps(make().json(), indent=2, sort_keys=True) + "\n" for name, make in BOARDS.items()}


def main():
    for name, text in render().items():
        (HERE / f"{name}.json").write_text(text)


if __name__ == "__main__":
    main()
