"""Local stack engine: runs the whole template.yaml on one machine without Docker."""

from devstack.stack import Invocation, LocalStack, StackOptions
from devstack.template import StackModel, load_stack_model
from devstack.tokens import DEV_JWT_SECRET, mint_token

__all__ = ["DEV_JWT_SECRET", "Invocation", "LocalStack", "StackModel", "StackOptions", "load_stack_model", "mint_token"]
