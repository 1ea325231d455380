namespace EventNotify.Storage.Tests.Contract;

public sealed class InMemoryEventStoreContractTests : EventStoreContractTests
{
    protected override Task<IEventStore> CreateStoreAsync() => Task.FromResult<IEventStore>(new InMemoryEventStore());
}
