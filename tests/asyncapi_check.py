"""The AsyncAPI document checked with the AsyncAPI project's own tools (npm, pinned in
deploy/asyncapi-check/, installed by the Makefile) and events checked against its payloads with
a JSON Schema validator (`jsonschema`): no checks of our own making."""
import json
import pathlib
import subprocess

import jsonschema

CHECK = pathlib.Path(__file__).resolve().parent.parent / "deploy" / "asyncapi-check"
SPECS = CHECK / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0-without-$id.json"


def _installed():
    if not SPECS.exists():
        raise RuntimeError(f"{CHECK}/node_modules is missing: `make install` (or npm ci in {CHECK})")


def spec_errors(doc):
    """The document's errors against the AsyncAPI 3.0.0 JSON Schema (@asyncapi/specs)."""
    _installed()
    schema = json.loads(SPECS.read_text())
    return [f"{e.json_path}: {e.message[:300]}"
            for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(doc)]


def parser_errors(doc):
    """The errors @asyncapi/parser reports for the document (its diagnostics of severity error)."""
    _installed()
    done = subprocess.run(["node", "parse.js"], cwd=CHECK, input=json.dumps(doc), capture_output=True,
                          text=True, timeout=120)
    if not done.stdout.strip():
        raise RuntimeError(f"@asyncapi/parser did not answer: {done.stderr[-2000:]}")
    return json.loads(done.stdout)["errors"]


class Payloads:
    """Each channel's message payload as a validator, its $refs resolved within the document."""

    def __init__(self, doc):
        self.doc = doc
        self._validators = {}

    def errors(self, channel, body):
        """Why `body` is not a valid message of `channel` (`<source>.<type>`): [] when it is."""
        if channel not in self.doc["channels"]:
            return [f"no channel {channel} in the AsyncAPI document"]
        if channel not in self._validators:
            (message,) = self.doc["channels"][channel]["messages"].values()
            # the whole document is the root resource, so "#/components/…" resolves within it
            self._validators[channel] = jsonschema.Draft7Validator({**self.doc, "$ref": message["$ref"] + "/payload"})
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                for e in self._validators[channel].iter_errors(body)]
