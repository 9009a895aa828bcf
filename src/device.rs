//! Compute device selection, made once per run.
//!
//! Takes the `--device` choice, gives a candle [`Device`] that every stage receives by
//! reference. `auto` tries CUDA, then Metal, then falls back to the CPU, so the same command
//! line works on a laptop, a GPU node and CI; an explicit `cuda`/`metal` that cannot be
//! honoured is an error rather than a silent fallback, because a scholar who asked for a GPU
//! wants to know they are not getting one.

use crate::cli::DeviceArg;
pub use candle_core::Device;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "--device {0} requested, but this build has no {0} support (rebuild with `--features {0}`)"
    )]
    NotCompiled(&'static str),
    #[error("--device {name}: {source}")]
    Unavailable {
        name: &'static str,
        #[source]
        source: candle_core::Error,
    },
}

pub fn select(choice: DeviceArg) -> Result<Device, DeviceError> {
    match choice {
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda => {
            if !candle_core::utils::cuda_is_available() {
                return Err(DeviceError::NotCompiled("cuda"));
            }
            Device::new_cuda(0).map_err(|source| DeviceError::Unavailable {
                name: "cuda",
                source,
            })
        }
        DeviceArg::Metal => {
            if !candle_core::utils::metal_is_available() {
                return Err(DeviceError::NotCompiled("metal"));
            }
            Device::new_metal(0).map_err(|source| DeviceError::Unavailable {
                name: "metal",
                source,
            })
        }
        DeviceArg::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(device) = Device::new_cuda(0) {
                    return Ok(device);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(device) = Device::new_metal(0) {
                    return Ok(device);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// Short name for manifests and logs.
pub fn name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

/// The CUDA device for the GPU tests (built with `--features cuda`); panics with what to do
/// when there is none, so such a test never passes without having run on a GPU.
#[cfg(all(test, feature = "cuda"))]
pub(crate) fn cuda_for_tests() -> Device {
    Device::new_cuda(0).unwrap_or_else(|e| {
        panic!(
            "this test binary was built with --features cuda, so its GPU tests need a CUDA \
             device: {e}. Run them on a machine with an NVIDIA GPU, or test without the feature"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_falls_back_to_it() {
        assert!(matches!(select(DeviceArg::Cpu).unwrap(), Device::Cpu));
        if !candle_core::utils::cuda_is_available() && !candle_core::utils::metal_is_available() {
            assert!(matches!(select(DeviceArg::Auto).unwrap(), Device::Cpu));
            assert!(matches!(
                select(DeviceArg::Cuda),
                Err(DeviceError::NotCompiled("cuda"))
            ));
        }
    }
}
