//! Per-step limits: memory through a resource limiter, time through epoch
//! interruption plus a wall-clock timeout, and optional fuel.

use std::time::Duration;

use wasmtime::ResourceLimiter;

use crate::workflow::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, Step};

/// What one invocation of a step may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    /// The most linear memory, in bytes.
    pub memory_bytes: usize,
    /// The wall-clock limit of the invocation, host calls included.
    pub timeout: Duration,
    /// An optional budget of fuel (roughly, executed instructions).
    pub fuel: Option<u64>,
}

impl Default for StepLimits {
    fn default() -> Self {
        Self {
            memory_bytes: (DEFAULT_MEMORY_MB as usize) << 20,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            fuel: None,
        }
    }
}

impl StepLimits {
    /// The limits a workflow step asks for.
    pub fn of(step: &Step) -> Self {
        Self {
            memory_bytes: (step.memory_mb as usize) << 20,
            timeout: Duration::from_millis(step.timeout_ms),
            fuel: step.fuel,
        }
    }
}

/// Most tables, and elements per table, a step may have.
const MAX_TABLES: usize = 20;
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Enforces [`StepLimits::memory_bytes`] and remembers whether the guest hit
/// it, so the failure can say so.
#[derive(Debug)]
pub(crate) struct StepLimiter {
    memory_bytes: usize,
    pub(crate) memory_exceeded: bool,
    /// The linear memory the instance has, all its memories together.
    pub(crate) memory_used: usize,
}

impl StepLimiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_exceeded: false,
            memory_used: 0,
        }
    }

    /// The most linear memory the step may have.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }
}

impl ResourceLimiter for StepLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "the step tried to grow its memory to {desired} bytes, past its limit of {} MiB",
                self.memory_bytes >> 20
            );
        }
        self.memory_used += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}
