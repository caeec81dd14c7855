from medialab.cli import main

raise SystemExit(main())
