//! `log.level`: which filter directives a log filter may hold (`level` or `module=level`), as
//! the configuration and `ternctl log level` take them.

use anyhow::bail;

/// Levels a log filter may name.
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Accepts `level` or `target=level` directives separated by commas (what `log.level` and
/// `ternctl log level` take); anything else is refused, naming the directive.
pub fn check_log_level(filter: &str) -> anyhow::Result<()> {
    for directive in filter.split(',').map(str::trim) {
        let level = match directive.split_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => bail!("log.level: {directive:?} has no module before '='"),
            None => directive,
        };
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            bail!(
                "log.level: {level:?} in {filter:?} is not a level (expected one of {}, or \
                 module=level)",
                LOG_LEVELS.join(", ")
            );
        }
    }
    Ok(())
}
