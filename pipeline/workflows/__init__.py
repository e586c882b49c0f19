"""Commands that span domains (promote with canaries, plan + lock + push, remind, import with
alerts, publish with a forge): a typed request in, a result out, every flag validated first.

The CLI parses arguments into a request, calls one function here and renders its result.
"""
