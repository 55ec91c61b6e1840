"""A PEFT `LoraConfig` to start from, with the reason for each setting.

The JSON holds `LoraConfig` keyword arguments under PEFT's own field names (plus
`peft_type`, which PEFT writes into every adapter_config.json), so
`LoraConfig(**json.load(f))` builds it.
"""

from __future__ import annotations

import json
from typing import Any

LORA_CONFIG: dict[str, Any] = {
    "peft_type": "LORA",
    "task_type": "CAUSAL_LM",
    "r": 16,
    "lora_alpha": 32,
    "target_modules": ["q_proj", "v_proj"],
    "lora_dropout": 0.05,
    "bias": "none",
}

WHY: dict[str, str] = {
    "task_type": "A chat model generating its answer token by token.",
    "r": "The rank of the update. A behavior (an output format, a way of using the facts) is "
    "a narrow change: 8-16 is where most LoRA recipes start, and 16 leaves room without the "
    "memory and overfitting risk of 64 or more on a few hundred examples.",
    "lora_alpha": "The update is scaled by lora_alpha / r = 2, the usual starting ratio; move r "
    "and alpha together to keep it.",
    "target_modules": "The attention query and value projections, as in the LoRA paper. These "
    "are the names in Llama, Mistral, Qwen, Gemma and SmolLM; other architectures name them "
    'differently (GPT-2: c_attn), and "all-linear" adapts every linear layer if q/v underfit.',
    "lora_dropout": "Light regularisation for a small dataset; 0 once there are thousands of "
    "examples.",
    "bias": "Biases stay frozen, so switching the adapter off gives the base model back.",
}

SNIPPET = '''\
"""Build the LoraConfig this kit starts from (pip install peft transformers)."""

import json
from pathlib import Path

from peft import LoraConfig, get_peft_model

settings = json.loads(Path(__file__).with_name("lora_config.json").read_text())
config = LoraConfig(
    task_type=settings["task_type"],  # CAUSAL_LM: a chat model generating its answer
    r=settings["r"],  # 16: rank of the update; a narrow behavior change needs little
    lora_alpha=settings["lora_alpha"],  # 32: scale alpha / r = 2; move r and alpha together
    target_modules=settings["target_modules"],  # q_proj, v_proj: attention query and value
    lora_dropout=settings["lora_dropout"],  # 0.05: light regularisation for a small set
    bias=settings["bias"],  # none: biases frozen; the adapter switches off cleanly
)
print(config)

# With a base model loaded by transformers:
#   from transformers import AutoModelForCausalLM
#   model = get_peft_model(AutoModelForCausalLM.from_pretrained("your/base-model"), config)
#   model.print_trainable_parameters()
# then train on train.jsonl (e.g. trl's SFTTrainer takes the "messages" format as it is) and
# check on heldout.jsonl and heldout-suite.json.
'''


def lora_config_json() -> str:
    return json.dumps(LORA_CONFIG, indent=2) + "\n"
