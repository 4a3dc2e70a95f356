//! Moving tensors of the CPU backend to and from plain host buffers, for the fused kernels
//! ([`crate::attention`], [`crate::loss`]), and recognising that backend inside generic code.

use std::any::Any;

use burn::tensor::{Tensor, TensorData, TensorPrimitive};

use crate::Cpu;

/// The CPU backend's float tensor primitive.
pub(crate) type FlexTensor = <Cpu as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// `T` as `U` when they are the same type (checked at run time, no `unsafe`), else `T` back.
pub(crate) fn same_type<T: 'static, U: 'static>(x: T) -> Result<U, T> {
    let boxed: Box<dyn Any> = Box::new(x);
    match boxed.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(boxed) => Err(*boxed.downcast::<T>().expect("a box holds the type it was made from")),
    }
}

/// The contents of a CPU float tensor. The CPU backend's float tensors are f32 throughout this
/// model, so anything else is a bug here, not an input error.
pub(crate) fn to_host(x: FlexTensor) -> Vec<f32> {
    Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(x))
        .into_data()
        .into_vec::<f32>()
        .expect("the CPU backend computes in f32")
}

/// A CPU float tensor of `shape` holding `values`.
pub(crate) fn from_host<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    Tensor::<Cpu, D>::from_data(TensorData::new(values, shape), &Default::default()).into_primitive().tensor()
}
