"""Local fakes of payment providers' APIs: real HTTP(S) servers on 127.0.0.1 that speak each
provider's documented API closely enough that the real adapter works against them unchanged.
Tests start them; the demo can run them from the command line (see each module's docstring)."""
