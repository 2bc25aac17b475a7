//! `--backend cpu|wgpu|cuda`: which burn backend runs a command. CPU
//! (burn-flex) is always built; wgpu and CUDA only with the cargo features of
//! the same names. A GPU backend is probed with one tiny tensor before any
//! work, so a machine without the device gets a clear error, not a panic.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// burn-flex on the CPU (always available).
    #[default]
    Cpu,
    /// wgpu (Vulkan, Metal, DX12 or WebGPU); needs `--features wgpu`.
    Wgpu,
    /// CUDA through cubecl (NVRTC, no toolkit needed to build); needs
    /// `--features cuda` and an NVIDIA driver at run time.
    Cuda,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }
}

/// The default device of a backend (the CPU's only one).
pub fn default_device<B: burn::prelude::Backend>() -> B::Device {
    Default::default()
}

/// The error for a backend this binary was built without.
#[allow(dead_code)]
pub fn not_built(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--backend {name}: this duet was built without the `{name}` feature \
         (rebuild with `cargo build --release -p duet-cli --features {name}`)"
    )
}

/// Runs `probe` (which touches the device) with panics turned into an error
/// naming the backend: burn's GPU runtimes panic when no driver or adapter
/// is found.
#[allow(dead_code)]
pub fn probe<T>(name: &str, hint: &str, probe: impl FnOnce() -> T) -> anyhow::Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(probe));
    std::panic::set_hook(hook);
    r.map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        anyhow::anyhow!("--backend {name}: no usable device ({msg}); {hint}")
    })
}

#[cfg(feature = "wgpu")]
pub fn wgpu_device() -> anyhow::Result<burn::backend::wgpu::WgpuDevice> {
    use burn::prelude::*;
    probe(
        "wgpu",
        "install a GPU driver with Vulkan support (on Debian without a GPU: mesa-vulkan-drivers)",
        || {
            let dev = burn::backend::wgpu::WgpuDevice::default();
            let _ = Tensor::<burn::backend::Wgpu, 1>::ones([1], &dev).into_data();
            dev
        },
    )
}

#[cfg(feature = "cuda")]
pub fn cuda_device() -> anyhow::Result<burn::backend::cuda::CudaDevice> {
    use burn::prelude::*;
    probe(
        "cuda",
        "CUDA needs an NVIDIA GPU and its driver (libcuda.so)",
        || {
            let dev = burn::backend::cuda::CudaDevice::default();
            let _ = Tensor::<burn::backend::Cuda, 1>::ones([1], &dev).into_data();
            dev
        },
    )
}

/// Runs `$body` with `$B` bound to the chosen backend type and `$dev` to its
/// device; evaluates to the body's `anyhow::Result`.
macro_rules! with_backend {
    ($kind:expr, $B:ident, $dev:ident => $body:expr) => {{
        match $kind {
            $crate::backend::BackendKind::Cpu => {
                type $B = duet_model::Cpu;
                let $dev = $crate::backend::default_device::<$B>();
                $body
            }
            $crate::backend::BackendKind::Wgpu => {
                #[cfg(feature = "wgpu")]
                {
                    type $B = burn::backend::Wgpu;
                    let $dev = $crate::backend::wgpu_device()?;
                    $body
                }
                #[cfg(not(feature = "wgpu"))]
                {
                    Err($crate::backend::not_built("wgpu"))
                }
            }
            $crate::backend::BackendKind::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    type $B = burn::backend::Cuda;
                    let $dev = $crate::backend::cuda_device()?;
                    $body
                }
                #[cfg(not(feature = "cuda"))]
                {
                    Err($crate::backend::not_built("cuda"))
                }
            }
        }
    }};
}
pub(crate) use with_backend;
