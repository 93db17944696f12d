//! Kubernetes-style quantities (`500m`, `16Gi`) and resource demands for quota checks.

use super::kinds::{Gpu, Limits, Quantity, Resources};
use std::collections::BTreeMap;

/// Parses a cpu quantity into millicores.
pub fn cpu_millis(q: &Quantity) -> Result<u64, String> {
    match q {
        Quantity::Number(n) if *n >= 0.0 => Ok((n * 1000.0).round() as u64),
        Quantity::Number(n) => Err(format!("cpu `{n}` is negative")),
        Quantity::Text(s) => {
            let s = s.trim();
            let (num, scale) = match s.strip_suffix('m') {
                Some(n) => (n, 1.0),
                None => (s, 1000.0),
            };
            num.parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
                .map(|n| (n * scale).round() as u64)
                .ok_or_else(|| format!("cpu `{s}` is not a quantity like `2`, `0.5` or `500m`"))
        }
    }
}

/// Parses a memory quantity into bytes.
pub fn memory_bytes(q: &Quantity) -> Result<u64, String> {
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    match q {
        Quantity::Number(n) if *n >= 0.0 => Ok(*n as u64),
        Quantity::Number(n) => Err(format!("memory `{n}` is negative")),
        Quantity::Text(s) => {
            let s = s.trim();
            let (num, scale) = UNITS
                .iter()
                .find_map(|(u, f)| s.strip_suffix(u).map(|n| (n, *f)))
                .unwrap_or((s, 1.0));
            num.parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
                .map(|n| (n * scale).round() as u64)
                .ok_or_else(|| format!("memory `{s}` is not a quantity like `16Gi` or `512Mi`"))
        }
    }
}

/// Formats millicores for messages (`4`, `0.5`).
pub fn fmt_cpu(m: u64) -> String {
    if m % 1000 == 0 {
        (m / 1000).to_string()
    } else {
        format!("{}", m as f64 / 1000.0)
    }
}

/// Formats bytes for messages and Kubernetes (`16Gi`, `512Mi`, or plain bytes).
pub fn fmt_memory(b: u64) -> String {
    for (unit, f) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if b >= f && b % f == 0 {
            return format!("{}{unit}", b / f);
        }
    }
    if b >= 1 << 30 {
        format!("{:.1}Gi", b as f64 / (1u64 << 30) as f64)
    } else {
        b.to_string()
    }
}

/// What something asks for or may use: cpu, memory, GPUs per type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    /// Millicores.
    pub cpu: u64,
    /// Bytes.
    pub memory: u64,
    /// GPUs per type.
    pub gpu: BTreeMap<String, u64>,
}

impl Demand {
    /// Adds another demand. Sums saturate: a huge quantity (`cpu: 1e300`) stays over every
    /// limit instead of wrapping around to a small number.
    pub fn add(&mut self, other: &Demand) {
        self.cpu = self.cpu.saturating_add(other.cpu);
        self.memory = self.memory.saturating_add(other.memory);
        for (t, n) in &other.gpu {
            let sum = self.gpu.entry(t.clone()).or_default();
            *sum = sum.saturating_add(*n);
        }
    }

    /// This demand times `n` (replicas), saturating like [`Demand::add`].
    pub fn times(&self, n: u64) -> Demand {
        Demand {
            cpu: self.cpu.saturating_mul(n),
            memory: self.memory.saturating_mul(n),
            gpu: self
                .gpu
                .iter()
                .map(|(t, v)| (t.clone(), v.saturating_mul(n)))
                .collect(),
        }
    }

    /// The resources where `self` exceeds `limit`, as `(resource, asked, allowed)` strings.
    /// Resources the limit does not mention are unlimited; a GPU type it does not mention is 0.
    pub fn excess(&self, limit: &Limit) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        if let Some(l) = limit.cpu
            && self.cpu > l
        {
            out.push(("cpu".into(), fmt_cpu(self.cpu), fmt_cpu(l)));
        }
        if let Some(l) = limit.memory
            && self.memory > l
        {
            out.push(("memory".into(), fmt_memory(self.memory), fmt_memory(l)));
        }
        if limit.gpu_limited {
            for (t, n) in &self.gpu {
                let l = limit.gpu.get(t).copied().unwrap_or(0);
                if *n > l {
                    out.push((format!("gpu {t}"), n.to_string(), l.to_string()));
                }
            }
        }
        out
    }

    /// Human summary: `cpu 4, memory 16Gi, gpu a100 2`.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("cpu {}", fmt_cpu(self.cpu)),
            format!("memory {}", fmt_memory(self.memory)),
        ];
        parts.extend(self.gpu.iter().map(|(t, n)| format!("gpu {t} {n}")));
        parts.join(", ")
    }
}

/// A parsed quota or capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limit {
    /// Millicores, if limited.
    pub cpu: Option<u64>,
    /// Bytes, if limited.
    pub memory: Option<u64>,
    /// GPUs per type.
    pub gpu: BTreeMap<String, u64>,
    /// Whether GPUs are limited (a `gpu` map was written).
    pub gpu_limited: bool,
}

impl Limit {
    /// Parses written limits.
    pub fn parse(l: &Limits) -> Result<Limit, String> {
        Ok(Limit {
            cpu: l.cpu.as_ref().map(cpu_millis).transpose()?,
            memory: l.memory.as_ref().map(memory_bytes).transpose()?,
            gpu: l
                .gpu
                .iter()
                .map(|(t, n)| (t.clone(), u64::from(*n)))
                .collect(),
            gpu_limited: !l.gpu.is_empty(),
        })
    }

    /// The limit as a demand (for summing quotas against a capacity).
    pub fn as_demand(&self) -> Demand {
        Demand {
            cpu: self.cpu.unwrap_or(0),
            memory: self.memory.unwrap_or(0),
            gpu: self.gpu.clone(),
        }
    }
}

/// The demand of one replica. `default_gpu` is the resource group's single GPU type, used for a
/// bare GPU count; `Err` says why a count cannot be typed.
pub fn replica_demand(r: &Resources, default_gpu: Result<&str, String>) -> Result<Demand, String> {
    let mut d = Demand {
        cpu: r.cpu.as_ref().map(cpu_millis).transpose()?.unwrap_or(0),
        memory: r
            .memory
            .as_ref()
            .map(memory_bytes)
            .transpose()?
            .unwrap_or(0),
        gpu: BTreeMap::new(),
    };
    match &r.gpu {
        None | Some(Gpu::Count(0)) => {}
        Some(Gpu::Count(n)) => {
            d.gpu.insert(default_gpu?.to_string(), u64::from(*n));
        }
        Some(Gpu::ByType(m)) => d.gpu.extend(
            m.iter()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| (t.clone(), u64::from(*n))),
        ),
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_demands_saturate_instead_of_wrapping() {
        let huge = cpu_millis(&Quantity::Text("1e300".into())).unwrap();
        assert_eq!(huge, u64::MAX);
        let mut d = Demand {
            cpu: huge,
            memory: u64::MAX - 1,
            gpu: BTreeMap::from([("a100".to_string(), u64::MAX)]),
        };
        d.add(&d.clone());
        let d = d.times(3);
        assert_eq!(
            (d.cpu, d.memory, d.gpu["a100"]),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn parses_quantities() {
        assert_eq!(cpu_millis(&Quantity::Text("500m".into())), Ok(500));
        assert_eq!(cpu_millis(&Quantity::Number(2.5)), Ok(2500));
        assert_eq!(memory_bytes(&Quantity::Text("16Gi".into())), Ok(16 << 30));
        assert_eq!(
            memory_bytes(&Quantity::Text("1G".into())),
            Ok(1_000_000_000)
        );
        assert!(memory_bytes(&Quantity::Text("lots".into())).is_err());
        assert_eq!(fmt_memory(16 << 30), "16Gi");
        assert_eq!(fmt_cpu(1500), "1.5");
    }
}
