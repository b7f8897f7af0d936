//! Rule expressions: compiled and evaluated by Rhai, restricted to expressions (no
//! statements, loops or functions), with strict variables, an operation budget and
//! no output, so a rule can read the dwelling and nothing else.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rhai::{AST, Dynamic, Engine, Map, Position, Scope};

/// What an expression may read: every name with its value, `()` when it has none now
/// (a device offline, a sensor the dwelling does not have).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    vars: BTreeMap<String, Dynamic>,
}

impl Facts {
    pub fn number(&mut self, name: &str, value: Option<f64>) {
        self.vars
            .insert(name.to_owned(), value.map_or(Dynamic::UNIT, Dynamic::from));
    }

    pub fn int(&mut self, name: &str, value: i64) {
        self.vars.insert(name.to_owned(), Dynamic::from(value));
    }

    pub fn text(&mut self, name: &str, value: &str) {
        self.vars
            .insert(name.to_owned(), Dynamic::from(value.to_owned()));
    }

    pub fn flag(&mut self, name: &str, value: bool) {
        self.vars.insert(name.to_owned(), Dynamic::from(value));
    }

    /// A map reached with dots: `heat_pump.hot_water_temperature`, `bundle.household.used`.
    pub fn map(&mut self, name: &str, value: Map) {
        self.vars.insert(name.to_owned(), Dynamic::from_map(value));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    fn scope(&self) -> Scope<'static> {
        let mut scope = Scope::new();
        for (k, v) in &self.vars {
            // Variables, not constants: constants would be folded into the compiled
            // expression with the placeholder values it was checked against.
            scope.push_dynamic(k.clone(), v.clone());
        }
        scope
    }
}

/// The one engine, configured once: expressions only, strict names, bounded work.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut e = Engine::new();
        e.set_strict_variables(true)
            .set_fail_on_invalid_map_property(true)
            .set_max_operations(10_000)
            .set_max_expr_depths(32, 16)
            .set_max_string_size(1024)
            .set_max_array_size(256)
            .set_max_map_size(256);
        e.on_print(|_| {});
        e.on_debug(|_, _, _| {});
        e
    })
}

/// What went wrong in an expression, and where in its text (a byte offset).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub offset: Option<usize>,
}

/// The byte offset in `source` of a Rhai position (1-based line and column).
fn offset_of(source: &str, pos: Position) -> Option<usize> {
    let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
    let start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = source.get(start..)?;
    Some(
        start
            + rest
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(rest.len(), |(i, _)| i),
    )
}

/// A compiled expression and its text.
#[derive(Debug, Clone)]
pub struct Expr {
    pub source: String,
    ast: AST,
}

impl Expr {
    /// Compiles `source`; `names` declares what it may read (values do not matter).
    pub fn compile(source: &str, names: &Facts) -> Result<Expr, ExprError> {
        engine()
            .compile_expression_with_scope(&names.scope(), source)
            .map(|ast| Expr {
                source: source.to_owned(),
                ast,
            })
            .map_err(|e| {
                let mut message = e.0.to_string();
                if let rhai::ParseErrorType::VariableUndefined(_) = *e.0 {
                    message.push_str(&format!(
                        " (known names: {})",
                        names.names().collect::<Vec<_>>().join(", ")
                    ));
                }
                ExprError {
                    message,
                    offset: offset_of(source, e.1),
                }
            })
    }

    /// The names this expression reads that have no value now, device points
    /// (`heat_pump.tank_temperature`) included.
    fn unset(&self, facts: &Facts) -> Vec<String> {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let mut names = Vec::new();
        for (k, v) in &facts.vars {
            if v.is_unit() {
                names.push(k.clone());
            } else if let Some(map) = v.read_lock::<Map>() {
                names.extend(
                    map.iter()
                        .filter(|(_, v)| v.is_unit())
                        .map(|(p, _)| format!("{k}.{p}")),
                );
            }
        }
        names.retain(|k| {
            self.source.match_indices(k.as_str()).any(|(i, _)| {
                let before = self.source[..i].chars().next_back();
                let after = self.source[i + k.len()..].chars().next();
                !before.is_some_and(|c| ident(c) || c == '.') && !after.is_some_and(ident)
            })
        });
        names
    }

    /// Evaluates; an expression that reads a name without a value fails, so a rule
    /// never acts on data it does not have.
    pub fn eval(&self, facts: &Facts) -> Result<Dynamic, ExprError> {
        let unset = self.unset(facts);
        if !unset.is_empty() {
            return Err(ExprError {
                message: format!("{} has no current value", unset.join(", ")),
                offset: None,
            });
        }
        engine()
            .eval_ast_with_scope::<Dynamic>(&mut facts.scope(), &self.ast)
            .map_err(|mut e| {
                let pos = e.take_position();
                ExprError {
                    message: e.to_string(),
                    offset: offset_of(&self.source, pos),
                }
            })
    }

    /// Evaluates to true or false; anything else is an error.
    pub fn truth(&self, facts: &Facts) -> Result<bool, ExprError> {
        let v = self.eval(facts)?;
        v.as_bool().map_err(|ty| ExprError {
            message: format!("gave {v} (a {ty}), not true or false"),
            offset: None,
        })
    }

    /// Evaluates to a number (an integer is taken as one).
    pub fn number(&self, facts: &Facts) -> Result<f64, ExprError> {
        let v = self.eval(facts)?;
        v.as_float()
            .or_else(|_| v.as_int().map(|i| i as f64))
            .map_err(|ty| ExprError {
                message: format!("gave {v} (a {ty}), not a number"),
                offset: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.number("grid_power", Some(-1800.0));
        f.number("tank_temperature", None);
        f.int("hour", 13);
        let mut hp = Map::new();
        hp.insert("hot_water_setpoint".into(), Dynamic::from(50.0_f64));
        f.map("heat_pump", hp);
        f
    }

    #[test]
    fn expressions_read_facts_and_device_maps() {
        let f = facts();
        let e = Expr::compile("grid_power < -1500 && hour >= 11", &f).expect("compiles");
        assert_eq!(e.truth(&f), Ok(true));
        let e = Expr::compile("heat_pump.hot_water_setpoint + 5", &f).expect("compiles");
        assert_eq!(e.number(&f), Ok(55.0));
    }

    #[test]
    fn unknown_names_are_refused_at_their_position() {
        let e =
            Expr::compile("grid_power < 0 &&\n  tank_temp < 45", &facts()).expect_err("unknown");
        assert!(e.message.contains("tank_temp"), "{}", e.message);
        assert!(e.message.contains("known names"), "{}", e.message);
        assert_eq!(e.offset, Some(20));
    }

    #[test]
    fn statements_and_loops_are_not_expressions() {
        for s in [
            "let x = 1",
            "while true {}",
            "fn f() { 1 }",
            "grid_power = 1",
        ] {
            assert!(Expr::compile(s, &facts()).is_err(), "{s}");
        }
    }

    #[test]
    fn missing_values_and_wrong_types_say_so() {
        let f = facts();
        let e = Expr::compile("tank_temperature < 45", &f).expect("compiles");
        let err = e.truth(&f).expect_err("no value");
        assert!(
            err.message
                .starts_with("tank_temperature has no current value"),
            "{}",
            err.message
        );
        let e = Expr::compile("grid_power", &f).expect("compiles");
        assert!(
            e.truth(&f)
                .expect_err("number")
                .message
                .contains("not true or false")
        );
        let e = Expr::compile("heat_pump.nope > 1", &f).expect("compiles");
        assert!(e.truth(&f).is_err());
    }
}
