"""What rnntag shows a person, through rich: tagged text (`--output pretty`), tables of
scores, speed and model settings, training curves as text, training progress. The command
line prints through these modules; none of them imports torch, so that `rnntag tag --workers
N --output pretty` keeps torch out of the parent process."""
